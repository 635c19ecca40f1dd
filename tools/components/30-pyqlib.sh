#!/usr/bin/env bash
# pyqlib in its own venv, .venv-qlib at the repository root (gitignored; ~1.4 GB with mlflow and jupyter, so
# the main .venv stays lean). tests/export/test_qlib_pyqlib.py reads the lake's Qlib export with it.
# Installs only when `import qlib` fails in that venv, so a second run costs nothing.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BINANCE_LAKE_QLIB_VENV:-$repo/.venv-qlib}"
python="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import qlib" >/dev/null 2>&1; then
  echo "components: pyqlib found in $venv"
  exit 0
fi
if ! command -v "$python" >/dev/null; then
  echo "components: no $python to make $venv; install Python 3.11 and run: $python -m venv $venv && $venv/bin/pip install pyqlib"
  exit 1
fi
echo "components: installing pyqlib into $venv (~1.5 min, ~1.4 GB)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || exit 1
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pyqlib || {
  echo "components: pip install pyqlib failed; run by hand: $venv/bin/pip install pyqlib"
  exit 1
}
"$venv/bin/python" -c "import qlib; print('components: pyqlib', qlib.__version__, 'in $venv')"
