"""The process-wide in-memory DuckDB the read side runs its queries on, and read-only access to lake.duckdb.

Opening a DuckDB database costs about 15 ms, more than reading a year of hourly bars, so the loader keeps one
in-memory database per process and gives each call its own cursor (a cheap, independent connection to it).
The lake's catalog and state (`lake.duckdb`) are ATTACHed read-only for the length of one call under a unique
alias (under 1 ms), never held open: a sync in another process can still write between two loads.
All session times are UTC. DuckDB errors are translated into binance-lake errors here.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.storage.database import DATABASE_NAME

Cursor = duckdb.DuckDBPyConnection

_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None
_aliases = itertools.count()

# DuckDB's errors that mean "the SQL text is wrong", as opposed to the disk or the database failing.
USER_ERRORS: tuple[type[Exception], ...] = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
)


def _shared() -> duckdb.DuckDBPyConnection:
    global _database
    with _lock:
        if _database is None:
            database = duckdb.connect()
            # Timestamps are UTC everywhere (DESIGN.md); date_trunc and casts follow the session time zone.
            database.execute("SET GLOBAL TimeZone = 'UTC'")
            _database = database
        return _database


@contextlib.contextmanager
def cursor(*, user_sql: bool = False) -> Iterator[Cursor]:
    """A cursor on the shared in-memory database; closed on exit, DuckDB errors translated.

    With `user_sql`, errors in the SQL text itself are the user's (`UsageError`); otherwise they are ours.
    """
    handle = _shared().cursor()
    try:
        yield handle
    except USER_ERRORS as error:
        if not user_sql:
            raise StorageError(f"reading the lake failed: {first_line(error)}") from error
        raise UsageError(first_line(error)) from error
    except duckdb.Error as error:
        raise StorageError(f"reading the lake failed: {first_line(error)}") from error
    finally:
        handle.close()


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def database_path(root: Path) -> Path:
    return root / DATABASE_NAME


@contextlib.contextmanager
def attached(handle: Cursor, root: Path, *, wait_seconds: float = 15.0) -> Iterator[str | None]:
    """ATTACH `<root>/lake.duckdb` read-only for one unit of work; yields its alias, or None when no lake
    database exists yet. A writer in another process holds the file for moments at a time, so a lock
    conflict is retried for up to `wait_seconds`, like `LakeDatabase.connect`."""
    path = database_path(root)
    if not path.exists():
        yield None
        return
    alias = f"lake_{next(_aliases)}"
    quoted = str(path).replace("'", "''")
    deadline = time.monotonic() + wait_seconds
    delay = 0.02
    while True:
        try:
            handle.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
            break
        except duckdb.Error as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise StorageError(f"cannot open the lake database {path}: {first_line(error)}") from error
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    try:
        yield alias
    finally:
        handle.execute(f"DETACH {alias}")


def tables_of(handle: Cursor, alias: str | None) -> frozenset[str]:
    """Names of the tables and views in an attached lake database (empty when there is none)."""
    if alias is None:
        return frozenset()
    rows = handle.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [alias]
    ).fetchall()
    rows += handle.execute("SELECT view_name FROM duckdb_views() WHERE database_name = ?", [alias]).fetchall()
    return frozenset(str(r[0]) for r in rows)
