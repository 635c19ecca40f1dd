"""The filesystem seam: a lake whose root is `s3://bucket/prefix` keeps its files in the bucket through
`pyarrow.fs.S3FileSystem`, while its state database stays in a local state directory.

Why pyarrow.fs: it is already how every partition is written and read (no new dependency), its S3 client is
C++ (GIL released, connection pooling, retries), and `pyarrow.dataset` reads it for `Lake.sql`
(docs/architecture.md, "Object storage"). fsspec/s3fs would add two packages and a Python I/O loop; obstore
has no Parquet reader of its own.

How a remote lake is addressed: the rest of the code keeps working with local paths under the lake root, which
for an s3:// lake is its state directory (`~/.cache/binance-lake/<bucket>/<prefix>` by default). `attach_store`
mounts the store on that directory; a path under `tables/`, `raw/`, `reports/` or `damaged/` of a mounted root names
the object `<prefix>/<relative path>`, and the few places that touch those files (storage/parquet.py's
publish and reads, storage/inventory.py's stat, load/) ask `located(path)`. Everything else — `lake.duckdb`,
the writer lock, `.live/`, logs, temporaries — stays local.

Atomic publication: S3 has no rename, but a PUT is atomic (readers see the old object or the new one, never a
part; a multipart upload appears only when completed). So a partition is written whole to a local temporary
file, then uploaded under its final key in one C++ call (`pyarrow.fs.copy_files`: no Python between the
parts, so an interrupt cannot complete a truncated upload), then recorded in `lake.duckdb`. Readers find
partitions from that record, never by listing the bucket, and check each object's size and LastModified
against it (storage/inventory.py), so an object written by a run killed before recording it is never read.

Writers only list: cleanup (engine/cleanup.py, under the writer lock) lists `raw/` and `tables/` once
(`listing`) to delete what the state database no longer needs and what no record names (`delete_many`);
`sync` sets a damaged partition aside in `damaged/` (`move`: S3 has no rename, a server-side copy then the
delete).

Readers elsewhere: after each writing run (the writer lock's release, storage/database.py) the state database
is checkpointed and uploaded as `<prefix>/lake.duckdb`; a state directory that has never written is a reader's
replica and fetches that snapshot when the bucket's copy changed (`attach_store`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from binance_lake.core.errors import StorageError
from binance_lake.core.storage_settings import StorageSettings, parse_object_url

REMOTE_DIRS = frozenset({"tables", "raw", "reports", "damaged"})
"""Top-level directories of a lake root that live in the bucket (`damaged/`: partitions a sync set aside)."""

MARKER_NAME = "object-store.json"
"""In the state directory: which store it mirrors (no credentials), whether it wrote, the snapshot fetched."""

SNAPSHOT_NAME = "lake.duckdb"
STAT_THREADS = 16
"""HEAD (or DELETE) requests in flight at once when a reader checks many partitions, or cleanup deletes
many objects (latency-bound, not CPU-bound)."""


@dataclass(frozen=True)
class ObjectStore:
    """One S3 bucket and prefix with its endpoint and region (credentials: the AWS environment)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def from_settings(cls, storage: StorageSettings) -> ObjectStore:
        if storage.url is None:
            raise StorageError("the lake root is not on object storage")
        bucket, prefix = parse_object_url(storage.url)
        return cls(bucket, prefix, storage.endpoint_url, storage.region)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, relative: str) -> str:
        """The pyarrow path (`bucket/prefix/relative`) of a file relative to the lake root."""
        return "/".join(p for p in (self.bucket, self.prefix, relative) if p)

    @property
    def filesystem(self) -> pafs.S3FileSystem:
        return _filesystem(self)


@functools.cache
def _filesystem(store: ObjectStore) -> pafs.S3FileSystem:
    options: dict[str, Any] = {"connect_timeout": 10.0, "request_timeout": 60.0}
    if store.region:
        options["region"] = store.region
    if store.endpoint_url:
        parts = urllib.parse.urlsplit(store.endpoint_url)
        options["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        options["scheme"] = parts.scheme
    try:
        return pafs.S3FileSystem(**options)
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot open the object store {store.url}: {error}") from error


# --- mounts: which local lake roots are object-storage lakes ------------------------------------------------

_mounts: dict[str, ObjectStore] = {}
_mounts_lock = threading.Lock()


def _absolute(path: Path) -> str:
    return os.path.abspath(path)  # noqa: PTH100 - no symlinks resolved: the mount is the path as given


def mount(root: Path, store: ObjectStore) -> None:
    """From now on, in this process, files under `root`'s `tables/`, `raw/` and `reports/` are `store`'s."""
    with _mounts_lock:
        _mounts[_absolute(root)] = store


def unmount(root: Path) -> None:
    with _mounts_lock:
        _mounts.pop(_absolute(root), None)


def store_of(root: Path) -> ObjectStore | None:
    """The object store mounted on the lake root `root`, or None for a local lake."""
    if not _mounts:
        return None
    return _mounts.get(_absolute(root))


def located(path: Path | str) -> tuple[ObjectStore, str] | None:
    """(store, pyarrow path of the object) when `path` is a lake file kept in a mounted store, else None."""
    if not _mounts:  # a local lake pays one dict check
        return None
    text = _absolute(Path(path))
    for root, store in _mounts.items():
        if text.startswith(root + os.sep):
            relative = text[len(root) + 1 :]
            if relative.split(os.sep, 1)[0] in REMOTE_DIRS:
                return store, store.key(relative.replace(os.sep, "/"))
    return None


def attach_store(root: Path, storage: StorageSettings) -> ObjectStore | None:
    """Mount the store of an s3:// lake on its state directory `root` (and record it there, so a process that
    opens the state directory itself, a Dask worker say, mounts it too); a reader's replica fetches the
    bucket's snapshot of `lake.duckdb` when it changed. Returns None for a local lake."""
    marker = root / MARKER_NAME
    if storage.url is None:
        recorded = _read_marker(marker)
        if recorded is None:
            return None
        storage = StorageSettings(
            url=recorded["url"], endpoint_url=recorded.get("endpoint_url"), region=recorded.get("region")
        )
    store = ObjectStore.from_settings(storage)
    mount(root, store)
    recorded = _read_marker(marker) or {}
    if recorded.get("url") not in (None, store.url):
        raise StorageError(
            f"the state directory {root} belongs to the lake {recorded['url']}, not {store.url}; "
            "choose another state_dir ([storage] state_dir or BINANCE_LAKE_STATE_DIR)"
        )
    fields = {"url": store.url, "endpoint_url": store.endpoint_url, "region": store.region}
    if not recorded or any(recorded.get(k) != v for k, v in fields.items()):
        _write_marker(marker, {**recorded, **fields})
    if not recorded.get("writer"):
        fetch_snapshot(root)
    return store


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise StorageError(f"cannot read {marker}: {error}") from error
    return value if isinstance(value, dict) and isinstance(value.get("url"), str) else None


def _write_marker(marker: Path, value: dict[str, Any]) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        temp = marker.with_name(f".{marker.name}.{uuid.uuid4().hex[:8]}")
        temp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        temp.replace(marker)
    except OSError as error:
        raise StorageError(f"cannot write {marker}: {error.strerror or error}") from error


# --- objects ---------------------------------------------------------------------------------------------


def _failed(what: str, path: Path | str, error: BaseException) -> StorageError:
    return StorageError(f"cannot {what} {path} on object storage: {error}")


def put_file(local: Path, path: Path) -> None:
    """Upload the finished file `local` as the object of lake path `path`: one atomic publication (the
    module docstring), checked by size afterwards."""
    where = located(path)
    if where is None:
        raise StorageError(f"{path} is not a file of an object-storage lake")
    store, key = where
    try:
        pafs.copy_files(
            str(local), key, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=store.filesystem
        )
        info = store.filesystem.get_file_info(key)
    except (OSError, pa.ArrowException) as error:
        raise _failed("upload", f"{store.url}/{key.split('/', 1)[-1]}", error) from error
    if info.size != local.stat().st_size:
        raise StorageError(
            f"the upload of {path} to {store.url} stored {info.size} bytes, not {local.stat().st_size}"
        )


def _stat_info(info: pafs.FileInfo) -> tuple[int, int] | None:
    if info.type != pafs.FileType.File or info.size is None or info.mtime_ns is None:
        return None
    return int(info.size), int(info.mtime_ns)


def stat(path: Path | str) -> tuple[int, int] | None:
    """(size, LastModified in ns) of a lake file's object, or None when there is none."""
    where = located(path)
    if where is None:
        raise StorageError(f"{path} is not a file of an object-storage lake")
    store, key = where
    try:
        return _stat_info(store.filesystem.get_file_info(key))
    except (OSError, pa.ArrowException) as error:
        raise _failed("look up", path, error) from error


_stat_pool: ThreadPoolExecutor | None = None


def stats(paths: Sequence[Path]) -> list[tuple[int, int] | None]:
    """`stat` of many lake files, their HEAD requests in flight together."""
    if len(paths) <= 1:
        return [stat(p) for p in paths]
    return list(_pool().map(stat, paths))


def _pool() -> ThreadPoolExecutor:
    global _stat_pool
    with _mounts_lock:
        if _stat_pool is None:
            _stat_pool = ThreadPoolExecutor(STAT_THREADS, thread_name_prefix="lake-head")
    return _stat_pool


def open_input(path: Path | str) -> pa.NativeFile:
    """A random-access reader of a lake file's object (FileNotFoundError when there is none)."""
    where = located(path)
    if where is None:
        raise StorageError(f"{path} is not a file of an object-storage lake")
    store, key = where
    return store.filesystem.open_input_file(key)


def fetch_file(path: Path) -> bool:
    """Download the object of lake path `path` to `path` itself (atomically: a temporary, then a rename);
    False when the store has no such object."""
    where = located(path)
    if where is None:
        return False
    store, key = where
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.fetch")
    try:
        if _stat_info(store.filesystem.get_file_info(key)) is None:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(
            key, str(temp), source_filesystem=store.filesystem, destination_filesystem=pafs.LocalFileSystem()
        )
        temp.replace(path)
    except (OSError, pa.ArrowException) as error:
        raise _failed("download", path, error) from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return True


def source(path: Path) -> Path | pa.NativeFile:
    """What pyarrow opens for a lake file: the local file, or its object when the lake is on object storage."""
    return open_input(path) if located(path) is not None else path


def pre_buffer(path: Path) -> bool:
    """`pq.ParquetFile`'s `pre_buffer` for a lake file: an object's column chunks are fetched in coalesced
    ranged requests ahead of decoding, about twice as fast as a request per chunk on moto; a local file keeps
    pyarrow's default (off)."""
    return located(path) is not None


def delete(path: Path | str) -> None:
    where = located(path)
    if where is None:
        return
    store, key = where
    with contextlib.suppress(FileNotFoundError):
        try:
            store.filesystem.delete_file(key)
        except (OSError, pa.ArrowException) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise _failed("delete", path, error) from error


def delete_many(paths: Sequence[Path]) -> None:
    """`delete` of many lake files' objects, their DELETE requests in flight together (cleanup's)."""
    if len(paths) <= 1:
        for path in paths:
            delete(path)
        return
    list(_pool().map(delete, paths))


def move(source: Path, target: Path) -> bool:
    """Move the object of lake path `source` to that of `target` in the same store (S3 has no rename: a
    server-side copy, then the delete); False when there is no such object."""
    where, to = located(source), located(target)
    if where is None or to is None or where[0] != to[0]:
        raise StorageError(f"{source} and {target} are not files of one object-storage lake")
    store, key = where
    try:
        if _stat_info(store.filesystem.get_file_info(key)) is None:
            return False
        store.filesystem.move(key, to[1])
    except (OSError, pa.ArrowException) as error:
        raise _failed("move", source, error) from error
    return True


def listing(root: Path, directory: str) -> dict[str, int]:
    """Every object under `<prefix>/<directory>/` of the store mounted on `root`: lake-relative POSIX path ->
    size. Only a writer holding the lake's writer lock lists (cleanup: what no record names); readers never do,
    they go by the records (the module docstring)."""
    store = store_of(root)
    if store is None:
        raise StorageError(f"{root} is not the state directory of an object-storage lake")
    base = store.key(directory)
    try:
        infos = store.filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except (OSError, pa.ArrowException) as error:
        raise _failed("list", f"{store.url}/{directory}", error) from error
    skip = len(store.key(""))
    return {
        info.path[skip:].lstrip("/"): int(info.size or 0) for info in infos if info.type == pafs.FileType.File
    }


def remote_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(local files, files kept in a mounted store) of `paths`."""
    local: list[Path] = []
    remote: list[Path] = []
    for path in paths:
        (remote if located(path) is not None else local).append(path)
    return local, remote


# --- the state database's snapshot -------------------------------------------------------------------------


def publish_snapshot(root: Path) -> None:
    """Upload `<root>/lake.duckdb` as the bucket's `<prefix>/lake.duckdb`. The caller holds the writer lock and
    has checkpointed the database (storage/database.py `WriterLock`), so the file alone is the whole state."""
    store = store_of(root)
    database = root / SNAPSHOT_NAME
    if store is None or not database.exists():
        return
    marker = root / MARKER_NAME
    _write_marker(marker, {**(_read_marker(marker) or {}), "writer": True})
    try:
        pafs.copy_files(
            str(database),
            store.key(SNAPSHOT_NAME),
            source_filesystem=pafs.LocalFileSystem(),
            destination_filesystem=store.filesystem,
        )
    except (OSError, pa.ArrowException) as error:
        raise StorageError(
            f"the lake's files are in {store.url}, but its state snapshot could not be uploaded: {error}"
        ) from error


def fetch_snapshot(root: Path) -> bool:
    """Fetch the bucket's `lake.duckdb` into a reader's state directory when it differs from the copy fetched
    last; True when a new copy was fetched. A bucket without a snapshot leaves the directory as it is."""
    store = store_of(root)
    if store is None:
        return False
    marker = root / MARKER_NAME
    recorded = _read_marker(marker) or {"url": store.url}
    key = store.key(SNAPSHOT_NAME)
    try:
        info = store.filesystem.get_file_info(key)
    except (OSError, pa.ArrowException) as error:
        raise _failed("look up the state snapshot of", store.url, error) from error
    seen = _stat_info(info)
    if seen is None or recorded.get("snapshot") == list(seen):
        return False
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".{SNAPSHOT_NAME}.{uuid.uuid4().hex[:8]}.fetch"
    try:
        pafs.copy_files(
            key, str(temp), source_filesystem=store.filesystem, destination_filesystem=pafs.LocalFileSystem()
        )
        temp.replace(root / SNAPSHOT_NAME)
        with contextlib.suppress(FileNotFoundError):
            (root / (SNAPSHOT_NAME + ".wal")).unlink()
    except (OSError, pa.ArrowException) as error:
        raise _failed("fetch the state snapshot of", store.url, error) from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    _write_marker(marker, {**recorded, "snapshot": list(seen)})
    return True
