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
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import duckdb
import pyarrow as pa

from binance_lake.core.errors import LakeLocked, StorageError
from binance_lake.storage import objects

DATABASE_NAME = "lake.duckdb"
LOCK_NAME = ".writer.lock"
WAITING_NAME = ".writer.waiting"
"""Present while a writer waits for the database file: readers that hold it (`HeldReader`) let go."""

Connection = duckdb.DuckDBPyConnection
T = TypeVar("T")


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
        if read_only:
            self._require_file()
        else:
            make_root(self.root)
        connection = self._open(read_only)
        if not read_only:
            _wrote()
        try:
            yield connection
        except duckdb.Error as error:
            raise StorageError(f"lake database {self.path} failed: {error}") from error
        finally:
            connection.close()
            if not read_only:
                _wrote()

    def open_reader(self) -> Connection:
        """A read-only connection the caller closes (a `HeldReader`'s); the same checks as `connect`'s."""
        self._require_file()
        try:
            return self._open(True)
        except duckdb.Error as error:
            raise StorageError(f"lake database {self.path} failed: {error}") from error

    def _require_file(self) -> None:
        if not self.path.exists():
            raise StorageError(
                f"no lake at {self.root}: {DATABASE_NAME} does not exist yet (run a sync first)"
            )

    def _open(self, read_only: bool) -> Connection:
        if not read_only:
            # DuckDB refuses a read-write open of a file this process holds read-only.
            close_held_readers(self.path)
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.02
        waiting = self.root / WAITING_NAME
        try:
            while True:
                try:
                    return duckdb.connect(str(self.path), read_only=read_only)
                except duckdb.IOException as error:
                    if not read_only:
                        # Held readers of other processes see it and let go (`HeldReader`).
                        with contextlib.suppress(OSError):
                            waiting.write_text(str(os.getpid()), encoding="utf-8")
                    self._retry_or_raise(error, read_only, deadline)
                except duckdb.Error as error:
                    raise StorageError(f"cannot open the lake database {self.path}: {error}") from error
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        finally:
            if not read_only:
                with contextlib.suppress(OSError):
                    waiting.unlink(missing_ok=True)

    def _retry_or_raise(self, error: duckdb.IOException, read_only: bool, deadline: float) -> None:
        """Return to try again (the file is locked by another process for a moment), else raise."""
        if not read_only and not self.writable():
            raise StorageError(
                f"the lake at {self.root} is not writable, and this command writes to it "
                "(reading commands such as status, query and catalog symbols work without write access)"
            ) from error
        if "lock" not in str(error).lower() or time.monotonic() > deadline:
            raise StorageError(f"cannot open the lake database {self.path}: {_one_line(error)}") from error

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


_WRITES = [0]
"""Read-write opens and closes in this process: with the file's change stamp, the key of `HeldReader.cached`,
so a write of this process invalidates held results even within the file system's timestamp granularity."""


def _wrote() -> None:
    _WRITES[0] += 1


_IN_TRANSACTION: set[int] = set()
"""The connections (by id) inside `one_transaction`: the writers below join it instead of opening their own."""


@contextlib.contextmanager
def one_transaction(connection: Connection) -> Iterator[Connection]:
    """One transaction around several writers (`replace_rows`, `engine.state.record`, ...): one commit, so one
    WAL sync, for a whole batch, and all of it or nothing after a crash. Nested use joins the outer one."""
    if id(connection) in _IN_TRANSACTION:
        yield connection
        return
    connection.execute("BEGIN TRANSACTION")
    _IN_TRANSACTION.add(id(connection))
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            connection.execute("ROLLBACK")
        raise
    finally:
        _IN_TRANSACTION.discard(id(connection))


HELD_RESULTS = 128
"""At most this many answers are kept by a `HeldReader` (its `cached`), all for the database as it is now."""

READER_IDLE_SECONDS = 1.0
"""How long a `HeldReader` keeps its connection after its last use: a writer in another process (which DuckDB
locks out while a reader holds the file) waits at most about this long, within its `lock_wait_seconds`."""


def _signature(path: Path) -> tuple[tuple[int, int, int], ...]:
    """What changes when the database does: inode, size and mtime of the file and of its WAL."""
    found: list[tuple[int, int, int]] = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            st = candidate.stat()
        except FileNotFoundError:
            found.append((0, 0, 0))
        else:
            found.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(found)


def writer_active(root: Path) -> bool:
    """Whether a process, this one included, holds the lake's writer lock: `WriterLock` writes its pid into
    the lock file and empties it on release. Read without locking, so asking never disturbs a writer."""
    return writer_pid(root) is not None


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 asks without sending). A pid of another user's process
    counts as alive; a pid of 0 or below is never a process of ours (it would address a process group)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_pid(root: Path) -> int | None:
    """The pid of the process holding the lake's writer lock (see `writer_active`), or None."""
    try:
        text = (root / LOCK_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    # A writer killed with -9 leaves its pid behind: only a live process holds the lock.
    return int(text) if process_alive(int(text)) else None


class HeldReader:
    """A read-only connection to `lake.duckdb` kept between calls, for a stream of short reads (catalog
    snapshots, timelines): opening the file costs ~15 ms, the reads about 1 ms.

    It is reopened when the database changed (inode, size, mtime of the file or its WAL), and closed after
    `READER_IDLE_SECONDS` without use, and never held while a writer holds the lake's writer lock
    (`writer_active`): DuckDB keeps a writer in another process out while a reader holds the file, so then every
    read opens and closes, as before. A write from this process closes it first (`LakeDatabase._open`)."""

    def __init__(self, database: LakeDatabase, *, idle_seconds: float = READER_IDLE_SECONDS) -> None:
        self.database = database
        self.idle_seconds = idle_seconds
        self._lock = threading.RLock()
        self._connection: Connection | None = None
        self._signature: tuple[tuple[int, int, int], ...] = ()
        self._last_use = 0.0
        self.checked: object = None  # what a caller verified about the open connection (its schema version)
        self._results: dict[Hashable, Any] = {}
        self._results_stamp: object = None
        _HELD.add(self)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A read-only connection for one read; errors as `LakeDatabase.connect`'s."""
        with self._lock:
            if writer_active(self.database.root) or (self.database.root / WAITING_NAME).exists():
                self.close()
                with self.database.connect(read_only=True) as connection:
                    yield connection
                return
            signature = _signature(self.database.path)
            if self._connection is None or signature != self._signature:
                self.close()
                self._connection = self.database.open_reader()
                self._signature = signature
                _watch_idle()
            try:
                yield self._connection
            except duckdb.Error as error:
                self.close()
                raise StorageError(f"lake database {self.database.path} failed: {error}") from error
            finally:
                self._last_use = time.monotonic()

    def cached(self, key: Hashable, compute: Callable[[Connection], T]) -> T:
        """`compute(connection)`, or its result from an earlier call with an equal `key` while the database
        is unchanged: its change stamp (inode, size, mtime of the file and its WAL) and this process's writes
        are the same. A cached answer costs a few stats instead of a query (~1-20 ms). While a writer holds
        the lock or waits for the file nothing is cached, since the file is changing under it. `compute`
        must be a pure function of the database and `key`, and its result never mutated by callers."""
        try:
            hash(key)
        except TypeError:  # an argument that cannot be a key (a list): asked every time
            with self.connection() as connection:
                return compute(connection)
        with self._lock:
            if writer_active(self.database.root) or (self.database.root / WAITING_NAME).exists():
                self._results.clear()
                with self.connection() as connection:
                    return compute(connection)
            stamp = (_signature(self.database.path), _WRITES[0])
            if stamp != self._results_stamp:
                self._results.clear()
                self._results_stamp = stamp
            elif key in self._results:
                found: T = self._results[key]
                return found
            with self.connection() as connection:
                value = compute(connection)
            if len(self._results) >= HELD_RESULTS:
                self._results.clear()  # bounded memory; the next calls fill it again
            # Stored under the stamp taken before the query: a change meanwhile makes the next call recompute.
            self._results[key] = value
            return value

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                self.checked = None
                with contextlib.suppress(duckdb.Error):
                    connection.close()

    def close_if_idle(self, now: float) -> None:
        """Close an idle connection, or one a writer waits for; never blocks (a reader in use is not idle)."""
        if self._lock.acquire(blocking=False):
            try:
                if self._connection is None:
                    return
                idle = now - self._last_use >= self.idle_seconds
                if idle or (self.database.root / WAITING_NAME).exists():
                    self.close()
            finally:
                self._lock.release()


_HELD: weakref.WeakSet[HeldReader] = weakref.WeakSet()
_SHARED: dict[str, HeldReader] = {}
_SHARED_LOCK = threading.Lock()


def held_reader(database: LakeDatabase) -> HeldReader:
    """This process's held reader of the lake's database file, shared by every caller (each `Lake.catalog`
    access builds a new `LakeCatalog`; the connection must outlive it to be worth holding)."""
    key = str(database.path.resolve())
    with _SHARED_LOCK:
        reader = _SHARED.get(key)
        if reader is None:
            reader = _SHARED[key] = HeldReader(database)
        return reader


_WATCHER: list[threading.Thread] = []


def close_held_readers(path: Path | None = None) -> None:
    """Close every held reader (of the database at `path`, when given) of this process."""
    for reader in list(_HELD):
        if path is None or reader.database.path == path:
            reader.close()


def _watch_idle() -> None:
    """One daemon thread per process closes the held readers that have been idle long enough."""
    if _WATCHER and _WATCHER[0].is_alive():
        return

    def watch() -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            for reader in list(_HELD):
                reader.close_if_idle(now)

    thread = threading.Thread(target=watch, name="lake-held-readers", daemon=True)
    _WATCHER[:] = [thread]
    thread.start()


def replace_rows(
    connection: Connection, table: str, key: tuple[str, ...], rows: list[dict[str, Any]], schema: pa.Schema
) -> None:
    """Replace the rows of `table` whose `key` columns match `rows` by `rows`, in one transaction.

    The rows travel as one registered Arrow batch: `executemany` costs about a millisecond per row."""
    if rows:
        replace_table(connection, table, key, pa.Table.from_pylist(rows, schema=schema))


def replace_table(connection: Connection, table: str, key: tuple[str, ...], rows: pa.Table) -> None:
    """`replace_rows` for rows already in an Arrow table (of `table`'s columns, by name)."""
    if not rows.num_rows:
        return
    batch = f"{table}_batch"
    columns = ", ".join(f'"{c}"' for c in key)
    match = (
        f"({columns}) IN (SELECT ({columns}) FROM {batch})"
        if len(key) > 1
        else f"{columns} IN (SELECT {columns} FROM {batch})"
    )
    connection.register(batch, rows)
    try:
        with one_transaction(connection):
            connection.execute(f"DELETE FROM {table} WHERE {match}")
            connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {batch}")
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


class PidLock:
    """An exclusive advisory lock on `path` whose file holds the holder's pid.

    Uses `flock`, so the lock disappears with its process even after `kill -9`; a stale lock file never blocks.
    `busy(holder)` builds the error raised when another process holds it (`holder`: its pid as text, or
    "unknown"); `cannot_open(reason)` the error when the file cannot be opened. The file is emptied before it is
    unlocked, so an empty file reads as "nobody holds it" without taking the lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy: Callable[[str], BaseException],
        cannot_open: Callable[[str], BaseException],
    ) -> None:
        self.path = path
        self._busy = busy
        self._cannot_open = cannot_open
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        holder = self._try_acquire()
        if holder is not None:
            raise self._busy(holder)

    def acquire_within(
        self,
        wait: float,
        *,
        poll: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        retry: Callable[[str], bool] = lambda holder: True,
    ) -> None:
        """`acquire`, retrying every `poll` seconds for up to `wait` seconds while the lock is held and
        `retry(holder)` says the holder may let go soon; then the `busy` error."""
        deadline = clock() + wait
        while True:
            holder = self._try_acquire()
            if holder is None:
                return
            if not retry(holder) or clock() >= deadline:
                raise self._busy(holder)
            sleep(poll)

    def _try_acquire(self) -> str | None:
        """Take the lock; None when taken, else the holder's pid as text ("unknown" when it wrote none)."""
        make_root(self.path.parent)
        try:
            handle = self.path.open("a+")
        except OSError as error:
            raise self._cannot_open(str(error.strerror or error)) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            return holder
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return None

    def release(self) -> None:
        if self._handle is not None:
            # Emptied before unlocking: `writer_active` reads the pid without taking the lock.
            with contextlib.suppress(OSError):
                self._handle.seek(0)
                self._handle.truncate()
                self._handle.flush()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> PidLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class WriterLock(PidLock):
    """The lock held by the one process allowed to write a lake (`<root>/.writer.lock`)."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            root / LOCK_NAME,
            busy=lambda holder: LakeLocked(
                f"another binance-lake process (pid {holder}) is writing the lake at {root}; "
                "wait for it to finish or stop it"
            ),
            cannot_open=lambda reason: StorageError(
                f"cannot write to the lake at {root} ({reason}); a sync needs write access to the lake directory"
            ),
        )
        self.root = root

    def __exit__(self, *exc_info: object) -> None:
        # An object-storage lake's state goes to the bucket after each writing run, still under the lock, so
        # readers elsewhere need only the bucket (storage/objects.py). A run that failed uploads it too, but
        # its own error is the one reported.
        try:
            if objects.store_of(self.root) is not None:
                if exc_info[0] is None:
                    self._snapshot()
                else:
                    with contextlib.suppress(StorageError):
                        self._snapshot()
        finally:
            self.release()

    def _snapshot(self) -> None:
        database = LakeDatabase(self.root)
        if database.path.exists():
            with database.connect() as connection:
                connection.execute("CHECKPOINT")  # the WAL's commits into the file that is uploaded
            objects.publish_snapshot(self.root)
