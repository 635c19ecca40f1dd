"""The lake's DuckDB state database (`<root>/lake.duckdb`) and the lake's single-writer lock.

DuckDB lets one process hold a database file read-write at a time. Long jobs (sync, refresh) therefore open the
database in short bursts and hold a separate advisory lock file (`<root>/.writer.lock`) for their whole run, so
`binance-lake status` in another terminal can still read while a sync is running, and a second writer is refused
with a clear message instead of corrupting state. DuckDB errors are translated into `StorageError` here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa

from binance_lake.core.errors import LakeLocked, StorageError

DATABASE_NAME = "lake.duckdb"
LOCK_NAME = ".writer.lock"

Connection = duckdb.DuckDBPyConnection


class LakeDatabase:
    """Opens connections to `<root>/lake.duckdb`, creating the root and the schema on first use."""

    def __init__(self, root: Path, *, lock_wait_seconds: float = 15.0) -> None:
        self.root = root
        self.path = root / DATABASE_NAME
        self.lock_wait_seconds = lock_wait_seconds

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Connection]:
        """A connection for one short unit of work; closed on exit.

        Another process may hold the file for a moment (DuckDB allows one read-write process); we wait up to
        `lock_wait_seconds` for it rather than failing at once.
        """
        if read_only and not self.path.exists():
            raise StorageError(
                f"no lake at {self.root}: {DATABASE_NAME} does not exist yet (run a sync first)"
            )
        if not read_only:
            make_root(self.root)
        connection = self._open(read_only)
        try:
            yield connection
        except duckdb.Error as error:
            raise StorageError(f"lake database {self.path} failed: {error}") from error
        finally:
            connection.close()

    def _open(self, read_only: bool) -> Connection:
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as error:
                if not read_only and not self.writable():
                    raise StorageError(
                        f"the lake at {self.root} is not writable, and this command writes to it "
                        "(reading commands such as status, query and catalog symbols work without write access)"
                    ) from error
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise StorageError(
                        f"cannot open the lake database {self.path}: {_one_line(error)}"
                    ) from error
            except duckdb.Error as error:
                raise StorageError(f"cannot open the lake database {self.path}: {error}") from error
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def writable(self) -> bool:
        """Whether this process may write the lake: its directory (DuckDB adds a WAL next to the database) and,
        when it exists, the database file."""
        if not os.access(self.root, os.W_OK | os.X_OK):
            return False
        return not self.path.exists() or os.access(self.path, os.W_OK)

    def ensure_schema(
        self, statements: Iterable[str], *, then: Callable[[Connection], None] | None = None
    ) -> None:
        """Run idempotent DDL (`CREATE … IF NOT EXISTS`) in one transaction, then `then(connection)`.

        The lake's own schema is brought up to date by `storage.schema.ensure_schema` (versioned migrations);
        this raw form remains for tests and benches that build a lake's tables (unversioned) directly.

        Done once per process and database file: repeated calls (every query of a session) cost nothing.
        """
        statements = tuple(statements)
        memo = (str(self.path.resolve()), self._inode(), hash(statements), id(then) if then else 0)
        if memo in _ENSURED:
            return
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
            if then is not None:
                then(connection)
        _ENSURED.add((memo[0], self._inode(), memo[2], memo[3]))

    def _inode(self) -> int:
        try:
            return self.path.stat().st_ino
        except FileNotFoundError:
            return 0


def replace_rows(
    connection: Connection, table: str, key: tuple[str, ...], rows: list[dict[str, Any]], schema: pa.Schema
) -> None:
    """Replace the rows of `table` whose `key` columns match `rows` by `rows`, in one transaction.

    The rows travel as one registered Arrow batch: `executemany` costs about a millisecond per row."""
    if not rows:
        return
    batch = f"{table}_batch"
    columns = ", ".join(f'"{c}"' for c in key)
    match = (
        f"({columns}) IN (SELECT ({columns}) FROM {batch})"
        if len(key) > 1
        else f"{columns} IN (SELECT {columns} FROM {batch})"
    )
    connection.register(batch, pa.Table.from_pylist(rows, schema=schema))
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(f"DELETE FROM {table} WHERE {match}")
        connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {batch}")
        connection.execute("COMMIT")
    finally:
        connection.unregister(batch)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def make_root(root: Path) -> None:
    """Create the lake directory (and its parents) if needed; a failure is one sentence, not an OSError."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create the lake directory {root}: {error.strerror or error}") from None


# (database path, inode, DDL hash, follow-up) already ensured by this process.
_ENSURED: set[tuple[str, int, int, int]] = set()


class WriterLock:
    """Exclusive advisory lock held by the one process allowed to write a lake.

    Uses `flock`, so the lock disappears with its process even after `kill -9`; a stale lock file never blocks.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        make_root(self.path.parent)
        try:
            handle = self.path.open("a+")
        except OSError as error:
            raise StorageError(
                f"cannot write to the lake at {self.path.parent} ({error.strerror or error}); "
                "a sync needs write access to the lake directory"
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise LakeLocked(
                f"another binance-lake process (pid {holder}) is writing the lake at {self.path.parent}; "
                "wait for it to finish or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
