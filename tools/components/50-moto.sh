#!/usr/bin/env bash
# moto's S3 server for the object-storage lake tests (tests/s3_server.py starts `moto_server` on a free loopback
# port per session and kills it; nothing here starts a service). moto[server] is in the `dev` extra, so a fresh
# `make test` has it; this installs it into an older .venv. Installs only when moto_server is missing.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BINANCE_LAKE_VENV:-$repo/.venv}"
if [ -x "$venv/bin/moto_server" ]; then
  echo "components: moto_server found in $venv ($("$venv/bin/python" -c 'import moto; print(moto.__version__)'))"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "components: no $venv yet (make creates it with the dev extra, which has moto[server])"
  exit 0
fi
echo "components: installing moto[server] into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'moto[server]>=5' || {
  echo "components: pip install failed; run by hand: $venv/bin/pip install 'moto[server]'"
  exit 1
}
echo "components: moto_server installed in $venv"
