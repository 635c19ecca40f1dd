"""The throw-away PostgreSQL server of tests/pg_server.py, for the daemon's `export_postgres` job."""

from tests.pg_server import pg_dsn, pg_server

__all__ = ["pg_dsn", "pg_server"]
