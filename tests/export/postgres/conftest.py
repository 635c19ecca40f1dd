"""The throw-away PostgreSQL 15 server of tests/pg_server.py for the export tests."""

from tests.pg_server import pg_dsn, pg_server

__all__ = ["pg_dsn", "pg_server"]
