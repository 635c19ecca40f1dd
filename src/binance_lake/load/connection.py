"""The process-wide in-memory DuckDB the read side runs its queries on, and read-only access to lake.duckdb.

Opening a DuckDB database costs about 15 ms, more than reading a year of hourly bars, so the loader keeps one
in-memory database per process and gives each call its own cursor (a cheap, independent connection to it).
The lake's catalog and state (`lake.duckdb`) are ATTACHed read-only for the length of one call under a unique
alias (under 1 ms), never held open: a sync in another process can still write between two loads.
All session times are UTC. DuckDB errors are translated into binance-lake errors here.

`LakeState` answers read-only questions about `lake.duckdb` (coverage inputs, pairs, life spans) and caches
each answer keyed by the database's on-disk signature (inode, size and mtime of the file and its WAL): while
the files are unchanged, a repeated load asks DuckDB nothing and attaches nothing (the attach, the table
listing and the queries were two thirds of a small load). A writer commits to the WAL or checkpoints into the
file, so either changes the signature. Like git's "racily clean" index, an answer is cached only when the
files were last modified at least `SETTLED_SECONDS` ago, so a write within the file system's timestamp
granularity of our read cannot leave a stale answer behind.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.storage.database import DATABASE_NAME
from binance_lake.storage.schema import check_readable

Cursor = duckdb.DuckDBPyConnection
T = TypeVar("T")

SETTLED_SECONDS = 1.0
CACHE_ENTRIES = 512

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
        # A reader cannot migrate: it reads older versions as they are and refuses a newer lake in one sentence.
        check_readable(handle, database=alias)
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


Signature = tuple[tuple[str, int, int, int] | None, ...]
_answers: OrderedDict[tuple[Signature, Hashable], Any] = OrderedDict()
_answers_lock = threading.Lock()


def _stat(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def signature(root: Path) -> Signature:
    """What identifies the lake database's content on disk: the file and its write-ahead log."""
    path = database_path(root)
    return (_stat(path), _stat(path.with_name(path.name + ".wal")))


def _settled(sig: Signature) -> bool:
    newest = max((s[3] for s in sig if s is not None), default=None)
    return newest is not None and time.time_ns() - newest >= SETTLED_SECONDS * 1e9


class LakeState:
    """Read-only questions to one lake database for the length of one call, answered from the cache when the
    database is unchanged since the same question was last asked (see the module docstring).

    `ask(key, fn)` returns `fn(handle, alias, tables)` (alias None and no tables when there is no database);
    `key` must identify the question fully, and the answer must be immutable. The database is attached
    only on the first question the cache cannot answer, and detached by `close()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.signature = signature(root)
        self._settled = _settled(self.signature)
        self._stack: contextlib.ExitStack | None = None
        self._handle: Cursor | None = None
        self._alias: str | None = None
        self._tables: frozenset[str] = frozenset()

    def _open(self) -> tuple[Cursor, str | None, frozenset[str]]:
        if self._stack is None:
            stack = contextlib.ExitStack()
            try:
                handle = stack.enter_context(cursor())
                alias = stack.enter_context(attached(handle, self.root))
                self._tables = tables_of(handle, alias)
            except BaseException:
                stack.close()
                raise
            self._stack, self._handle, self._alias = stack, handle, alias
        assert self._handle is not None
        return self._handle, self._alias, self._tables

    def ask(self, key: Hashable, fn: Callable[[Cursor, str | None, frozenset[str]], T]) -> T:
        full = (self.signature, key)
        if self._settled:
            with _answers_lock:
                if full in _answers:
                    _answers.move_to_end(full)
                    answer: T = _answers[full]
                    return answer
        handle, alias, tables = self._open()
        # DuckDB errors inside `fn` surface from the cursor's translation when the state closes; translate
        # here too, since the caller may never reach close() with them.
        try:
            answer = fn(handle, alias, tables)
        except duckdb.Error as error:
            raise StorageError(f"reading the lake failed: {first_line(error)}") from error
        if self._settled:
            with _answers_lock:
                _answers[full] = answer
                while len(_answers) > CACHE_ENTRIES:
                    _answers.popitem(last=False)
        return answer

    def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._handle = self._stack, None, None
            stack.close()

    def __enter__(self) -> LakeState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def clear_cache() -> None:
    """Forget every cached answer (tests; a caller that rewrote the database within a second)."""
    with _answers_lock:
        _answers.clear()
