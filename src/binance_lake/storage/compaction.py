"""Compacted years: one Arrow IPC file per series, symbol and year, holding that year's closed monthly
partitions, for the read side to memory-map instead of opening a dozen Parquet files (issue 12; seed 001's
memory-mapped cache).

The monthly partitions under `tables/` stay the lake's truth: every writer (sync, REST fill, stream), the
inventory, `day_provenance`, the integrity check, `sync --repair`, exports and cleanup know only them. A
compacted year is derived data beside them,

    compacted/<dataset>/market=<m>/[interval=<i>/]symbol=<S>/<YYYY>.arrow

and records in its own footer (schema metadata `binance_lake.sources`) the name, size and mtime_ns of every
partition it was built from, read from the same open file its rows came from. A reader uses it only for the
partitions whose file on disk still has exactly that size and mtime (`usable`); a month re-uploaded, a REST or
stream day merged into a compacted month, a lost or damaged partition — each changes or removes the file, so the
year is read from its partitions again until the next `compact`. So nothing needs recording in lake.duckdb, and a
compacted file can be deleted at any time. Publication is atomic: written to a hidden temporary beside it,
fsynced, renamed, directory fsynced; the footer travels with the rows.

Only bar-like datasets (a partition a month) are compacted, and only closed months (a month still being
written would make its year stale every day). Rows are written uncompressed by default, so a read maps the
file and copies nothing (`lz4` / `zstd` trade that for disk space).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from binance_lake.core.errors import StorageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.timerange import month_end
from binance_lake.storage.parquet import fsync_directory

COMPACTED_DIR = "compacted"
SUFFIX = ".arrow"
SOURCES_KEY = b"binance_lake.sources"
TEMPORARY = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")
MONTH_NAME = re.compile(r"^(\d{4})-(\d{2})\.parquet$")
MAX_CHUNK_ROWS = 1 << 17

Compression = Literal["none", "lz4", "zstd"]
COMPRESSIONS: tuple[Compression, ...] = ("none", "lz4", "zstd")

Stamp = tuple[int, int]  # (size, mtime_ns), as storage.inventory.stat_of


def compacted_path(partition: Path) -> Path | None:
    """The compacted year file for a monthly partition file `.../tables/.../symbol=S/YYYY-MM.parquet`, or
    None when the path is not one."""
    found = MONTH_NAME.match(partition.name)
    if found is None:
        return None
    directory = partition.parent
    for tables in directory.parents:
        if tables.name == TABLES_DIR:
            return tables.parent / COMPACTED_DIR / directory.relative_to(tables) / f"{found[1]}{SUFFIX}"
    return None


@dataclass(frozen=True)
class Compacted:
    """An open compacted year (memory-mapped; rows decoded by `read`) and the partitions it came from."""

    path: Path
    reader: ipc.RecordBatchFileReader
    sources: dict[str, Stamp]  # partition file name -> (size, mtime_ns) when it was read

    def read(self) -> pa.Table:
        """Every row (uncompressed: views of the mapped file, no copy)."""
        try:
            table: pa.Table = self.reader.read_all()
        except (OSError, pa.ArrowException) as error:
            raise StorageError(
                f"the compacted year {self.path} cannot be read ({error}); delete it, or run "
                "`binance-lake compact --force`"
            ) from error
        return table.replace_schema_metadata(None)


def open_compacted(path: Path) -> Compacted | None:
    """The compacted year at `path` (its footer read, its rows not yet), or None when there is none or it
    cannot be read (then the caller reads the partitions, which are the truth)."""
    try:
        reader = ipc.open_file(pa.memory_map(str(path)))
        metadata = reader.schema.metadata or {}
        sources = {
            str(name): (int(size), int(mtime)) for name, size, mtime in json.loads(metadata[SOURCES_KEY])
        }
    except (OSError, pa.ArrowException, KeyError, ValueError, TypeError):
        return None
    return Compacted(path, reader, sources)


def usable(compacted: Compacted, wanted: Sequence[str], reading: Sequence[Path]) -> bool:
    """Whether `compacted` can stand for its partitions among `reading` (the files a load reads), given the
    partition names `wanted` of the load's range in this year: each of its sources that is wanted is read,
    with the very size and mtime it was built from, and the files it does not hold all come before or after
    it (a month filled in later, inside the compacted span, would need its rows interleaved)."""
    reading_names = {p.name: p for p in reading}
    inside = [name for name in wanted if name in compacted.sources]
    if not inside:
        return False
    for name in inside:
        path = reading_names.get(name)
        if path is None or _stamp(path) != compacted.sources[name]:
            return False
    first, last = min(compacted.sources), max(compacted.sources)
    return not any(first < name < last for name in reading_names if name not in compacted.sources)


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)  # noqa: PTH116 - one call a partition
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class CompactResult:
    """What one `compact_series` did: years written, years already up to date, stale years removed."""

    written: tuple[Path, ...] = ()
    current: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    rows: int = 0
    bytes: int = 0


def closed_months(directory: Path, today: dt.date) -> dict[str, list[Path]]:
    """The monthly partitions of a symbol directory whose month ended before `today`, by year."""
    years: dict[str, list[Path]] = {}
    try:
        names = sorted(os.listdir(directory))  # noqa: PTH208 - names only
    except (FileNotFoundError, NotADirectoryError):
        return years
    for name in names:
        found = MONTH_NAME.match(name)
        if found and month_end(dt.date(int(found[1]), int(found[2]), 1)) < today:
            years.setdefault(found[1], []).append(directory / name)
    return years


def compact_series(
    directory: Path, *, today: dt.date, compression: Compression = "none", force: bool = False
) -> CompactResult:
    """Compact each year of one symbol directory under `tables/` (its closed months, two or more of them)
    into its year file, unless the file there already holds exactly those partitions (`force` rewrites it);
    a year file whose partitions are all gone is removed."""
    written: list[Path] = []
    current: list[Path] = []
    removed: list[Path] = []
    rows = size = 0
    years = closed_months(directory, today)
    target_dir: Path | None = None
    for _year, files in sorted(years.items()):
        target = compacted_path(files[0])
        if target is None:
            continue
        target_dir = target.parent
        if len(files) < 2:
            continue
        if not force:
            existing = open_compacted(target)  # the footer only
            if existing is not None and existing.sources == {p.name: _stamp(p) for p in files}:
                current.append(target)
                continue
        built = _read_sources(files)
        if built is None:
            continue  # a partition changed while it was read, or cannot be read: left to the reader
        table, sources = built
        write_compacted(target, table, sources, compression)
        written.append(target)
        rows += table.num_rows
        size += target.stat().st_size
    if target_dir is None:
        target_dir = _compacted_directory(directory)
    if target_dir is not None and target_dir.is_dir():
        for path in sorted(target_dir.glob(f"*{SUFFIX}")):
            year = path.name.removesuffix(SUFFIX)
            if year not in years or len(years[year]) < 2:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed.append(path)
    return CompactResult(tuple(written), tuple(current), tuple(removed), rows, size)


def _compacted_directory(directory: Path) -> Path | None:
    for tables in directory.parents:
        if tables.name == TABLES_DIR:
            return tables.parent / COMPACTED_DIR / directory.relative_to(tables)
    return None


def _read_sources(files: Sequence[Path]) -> tuple[pa.Table, dict[str, Stamp]] | None:
    """The partitions' rows in month order and each one's (size, mtime_ns), from the same open file; None
    when one is gone, unreadable, or changed while it was read (the next `compact` tries again)."""
    tables: list[pa.Table] = []
    sources: dict[str, Stamp] = {}
    for path in files:
        try:
            with path.open("rb") as handle:
                before = os.fstat(handle.fileno())
                tables.append(pq.read_table(handle))
        except (OSError, pa.ArrowException):
            return None
        if _stamp(path) != (before.st_size, before.st_mtime_ns):
            return None  # replaced meanwhile: what was read is no longer the partition
        sources[path.name] = (before.st_size, before.st_mtime_ns)
    try:
        return pa.concat_tables(tables).combine_chunks(), sources  # few batches: a read is a few views
    except pa.ArrowInvalid:
        return None  # partitions of different columns: read one by one, as the reader does


def write_compacted(
    target: Path, table: pa.Table, sources: dict[str, Stamp], compression: Compression = "none"
) -> None:
    """Publish a compacted year atomically: temporary, fsync, rename, fsync of the directory."""
    metadata = {SOURCES_KEY: json.dumps([[n, s, m] for n, (s, m) in sorted(sources.items())]).encode()}
    schema = table.schema.with_metadata(metadata)
    options = ipc.IpcWriteOptions(compression=None if compression == "none" else compression)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(temp), "wb") as sink, ipc.new_file(sink, schema, options=options) as writer:
            writer.write_table(table.replace_schema_metadata(metadata), max_chunksize=MAX_CHUNK_ROWS)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(target)
        fsync_directory(target.parent)
    except (OSError, pa.ArrowException) as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise StorageError(f"cannot write the compacted year {target}: {error}") from error


def series_directories(root: Path, datasets: Sequence[str]) -> Iterator[Path]:
    """The symbol directories under `tables/` of `datasets`."""
    for dataset in datasets:
        base = root / TABLES_DIR / dataset
        if base.is_dir():
            yield from (d for d in sorted(base.rglob("symbol=*")) if d.is_dir())


@dataclass(frozen=True)
class CompactReport:
    """What `compact_lake` did, in counts of year files."""

    written: int
    current: int
    removed: int
    rows: int
    bytes: int
    seconds: float

    def summary(self) -> dict[str, object]:
        return {
            "written": self.written,
            "current": self.current,
            "removed": self.removed,
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def compact_lake(
    root: Path,
    datasets: Sequence[str],
    *,
    today: dt.date,
    compression: Compression = "none",
    force: bool = False,
) -> CompactReport:
    """`compact_series` for every symbol directory of `datasets` (bar-like ones: a partition a month)."""
    started = time.monotonic()
    written = current = removed = rows = size = 0
    for directory in series_directories(root, datasets):
        result = compact_series(directory, today=today, compression=compression, force=force)
        written += len(result.written)
        current += len(result.current)
        removed += len(result.removed)
        rows += result.rows
        size += result.bytes
    return CompactReport(written, current, removed, rows, size, time.monotonic() - started)


def stray_compacted(root: Path) -> Iterator[Path]:
    """Left-over temporaries of a killed compaction, and compacted years none of whose partitions exist
    any more (cleanup's)."""
    base = root / COMPACTED_DIR
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        if TEMPORARY.match(path.name):
            yield path
        elif path.suffix == SUFFIX:
            tables = root / TABLES_DIR / path.parent.relative_to(base)
            if not any(tables.glob(f"{path.stem}-*.parquet")):
                yield path
