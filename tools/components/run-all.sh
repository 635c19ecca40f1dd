#!/usr/bin/env bash
# Run every component script of this directory in name order (see README.md). The package lists are
# refreshed at most once per run, by the first script that needs to install something (apt_install below).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export COMPONENTS_APT_UPDATED="${COMPONENTS_APT_UPDATED:-}"
for script in "$here"/[0-9]*.sh; do
  [ -e "$script" ] || continue
  bash "$script" || echo "components: $(basename "$script") failed; the tests that need it will say so"
done
