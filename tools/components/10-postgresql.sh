#!/usr/bin/env bash
# PostgreSQL 15 for the PostgreSQL export tests (tests/export/postgres/conftest.py starts its own throw-away
# cluster as the postgres user; the distro's `main` cluster is not used). TimescaleDB is not installable
# from this machine's package sources, so its DDL is tested as text.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "components: postgresql-15 present"
  exit 0
fi
apt_install postgresql-15 && echo "components: postgresql-15 installed"
