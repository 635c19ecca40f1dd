"""`binance-lake cleanup`: remove what the lake no longer needs, and say what it frees (seed 000's
`scripts/cleanup.py`).

Redundant, always removed:
- raw zips of daily files superseded by their month's monthly file (`FileStatus.SUPERSEDED`: the monthly
  file's rows replaced theirs);
- stale temporaries a killed writer left: partition `.tmp` files, `.ingest-*` scratch directories (the same
  names `engine.sync.remove_stale_temporaries` clears), and `.part` downloads (with their `.part.etag`) of
  files the lake has ingested since;
- compacted years (`storage.compaction`) none of whose partitions exist any more, and a killed compaction's
  temporaries.
With `raw`, also the raw zips of ingested files: the partitions hold their rows, but `sync --rebuild` and the
rebuild of a lost partition then need a download. Raw zips of files not ingested yet, partial downloads a sync
can still resume, and `damaged/` (kept for inspection, never deleted) stay.

On an object-storage lake (`s3://…`, storage/objects.py) the raw zips are objects in the bucket, deleted
there, and so is one more redundant kind: partition objects no record names (`partitions` in lake.duckdb) —
what a writer killed between an upload and its record leaves, the bucket's counterpart of a stale temporary
(readers never see them: they go by the records). The bucket is listed once (raw/ and tables/), by this
writer only. Order: an object goes only when the state database already says the lake does not need it (a
zip recorded superseded or ingested, a partition not recorded at all), and the snapshot readers elsewhere go
by is uploaded from that same database, so no reader is left needing a deleted object. Temporaries, `.part`
downloads and ingest scratch stay local on such a lake (the state directory), and go as on a local root.

The caller holds the lake's writer lock (`facade.cleanup`), so no sync writes while files go.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from binance_lake.core.errors import StorageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.engine.archive_source import RAW_DIR
from binance_lake.engine.state import FileStatus
from binance_lake.engine.sync import INGEST_SCRATCH, TEMPORARY_NAME
from binance_lake.storage import objects
from binance_lake.storage.compaction import stray_compacted
from binance_lake.storage.database import LakeDatabase

SUPERSEDED_ZIP = "superseded daily zip"
TEMPORARY = "stale temporary"
PARTIAL = "partial download of an ingested file"
RAW_ZIP = "raw zip of an ingested file"
COMPACTED = "compacted year without partitions"
ORPHAN = "object no record names"


@dataclass(frozen=True)
class Freed:
    """One path removed (or, in a dry run, to be removed): relative to the lake root, its bytes and why."""

    path: str
    bytes: int
    why: str


@dataclass(frozen=True)
class CleanupReport:
    freed: tuple[Freed, ...]
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.freed)

    def by_reason(self) -> dict[str, tuple[int, int]]:
        """Reason -> (paths, bytes)."""
        totals: dict[str, tuple[int, int]] = {}
        for f in self.freed:
            count, size = totals.get(f.why, (0, 0))
            totals[f.why] = (count + 1, size + f.bytes)
        return totals

    def summary(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "paths": len(self.freed),
            "bytes": self.bytes,
            "by_reason": {why: {"paths": n, "bytes": b} for why, (n, b) in self.by_reason().items()},
            "freed": [{"path": f.path, "bytes": f.bytes, "why": f.why} for f in self.freed],
        }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _tables(database: LakeDatabase) -> set[str]:
    if not database.path.exists():
        return set()
    with database.connect(read_only=True) as connection:
        return {str(r[0]) for r in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _keys(database: LakeDatabase, statuses: Iterable[FileStatus]) -> list[str]:
    wanted = [s.value for s in statuses]
    if not wanted or "file_state" not in _tables(database):
        return []
    with database.connect(read_only=True) as connection:
        marks = ", ".join("?" * len(wanted))
        rows = connection.execute(
            f"SELECT key FROM file_state WHERE status IN ({marks}) ORDER BY key", wanted
        )
        return [str(key) for (key,) in rows.fetchall()]


def _recorded_partitions(database: LakeDatabase) -> set[str]:
    if "partitions" not in _tables(database):
        return set()
    with database.connect(read_only=True) as connection:
        return {str(path) for (path,) in connection.execute("SELECT path FROM partitions").fetchall()}


Candidate = tuple[Path, str, bool]
"""A path to remove, why, and whether it is an object in the bucket (else a local file or directory)."""


def _redundant(database: LakeDatabase, raw: bool, remote: dict[str, int] | None) -> Iterator[Candidate]:
    """What cleanup removes; `remote` is the bucket's listing of an object-storage lake (None: local)."""
    yield from _zips(database, raw, remote is not None)
    if remote is not None:
        recorded = _recorded_partitions(database)
        for relative in sorted(remote):
            if relative.startswith(f"{TABLES_DIR}/") and relative not in recorded:
                yield database.root / relative, ORPHAN, True
    yield from _temporaries(database)


def _zips(database: LakeDatabase, raw: bool, remote: bool) -> Iterator[Candidate]:
    raw_dir = database.root / RAW_DIR
    # On an object-storage lake a zip is in the bucket, or still local when its upload failed (`release` in
    # engine/archive_source.py): both copies go.
    places = (False, True) if remote else (False,)
    statuses = [(FileStatus.SUPERSEDED, SUPERSEDED_ZIP)] + ([(FileStatus.INGESTED, RAW_ZIP)] if raw else [])
    for status, why in statuses:
        for key in _keys(database, [status]):
            for in_bucket in places:
                yield raw_dir / key, why, in_bucket


def _temporaries(database: LakeDatabase) -> Iterator[Candidate]:
    """What killed writers left in the (local) root: scratch, temporaries, partial downloads."""
    root = database.root
    for scratch in sorted(root.glob(INGEST_SCRATCH)):
        yield scratch, TEMPORARY, False
    tables = root / TABLES_DIR
    if tables.is_dir():
        for path in sorted(tables.rglob(".*")):
            if path.is_file() and TEMPORARY_NAME.match(path.name):
                yield path, TEMPORARY, False
    for path in stray_compacted(root):
        yield path, TEMPORARY if path.name.startswith(".") else COMPACTED, False
    done = set(_keys(database, [FileStatus.INGESTED, FileStatus.SUPERSEDED]))
    raw_dir = root / RAW_DIR
    if raw_dir.is_dir():
        for path in sorted(raw_dir.rglob("*.part*")):
            name = path.name.removesuffix(".etag").removesuffix(".part")
            key = path.with_name(name).relative_to(raw_dir).as_posix()
            if path.name.endswith((".part", ".part.etag")) and key in done:
                yield path, PARTIAL, False


def _bucket(root: Path) -> dict[str, int] | None:
    """The raw/ and tables/ objects of an object-storage lake (relative path -> size); None for a local one."""
    if objects.store_of(root) is None:
        return None
    return {**objects.listing(root, RAW_DIR), **objects.listing(root, TABLES_DIR)}


def cleanup(database: LakeDatabase, *, raw: bool = False, dry_run: bool = False) -> CleanupReport:
    """Find what is redundant (see the module docstring) and, unless `dry_run`, remove it."""
    root = database.root
    remote = _bucket(root)
    freed: list[Freed] = []
    doomed: list[Path] = []
    for path, why, in_bucket in _redundant(database, raw, remote):
        relative = path.relative_to(root).as_posix()
        if in_bucket:
            size = (remote or {}).get(relative)
            if size is None:
                continue  # not in the bucket (already deleted, or never uploaded)
            doomed.append(path)
            freed.append(Freed(relative, size, why))
            continue
        if not path.exists():
            continue
        size = _size(path)
        if not dry_run:
            try:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                raise StorageError(f"cannot remove {path}: {error.strerror or error}") from None
        freed.append(Freed(relative, size, why))
    if not dry_run:
        objects.delete_many(doomed)
        _prune_empty(root / RAW_DIR)
    return CleanupReport(tuple(freed), dry_run)


def _prune_empty(directory: Path) -> None:
    """Remove the directories under `directory` that removing files left empty (deepest first)."""
    if not directory.is_dir():
        return
    for path in sorted(
        (p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        try:
            path.rmdir()
        except OSError:
            continue  # not empty
