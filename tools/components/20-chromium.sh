#!/usr/bin/env bash
# Chromium for the HTML report's browser test (tests/quality/test_report_browser.py): Debian's `chromium`,
# run headless. Installed only when missing.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
if command -v chromium >/dev/null; then
  echo "components: chromium present ($(chromium --version 2>/dev/null | head -1))"
  exit 0
fi
apt_install chromium && echo "components: chromium installed"
