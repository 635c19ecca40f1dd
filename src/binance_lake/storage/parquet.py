"""Lake partitions on disk: atomic zstd Parquet writes, and merging new rows into a partition.

Every partition file is written to a hidden temporary name in its own directory, fsynced, and renamed into
place with `os.replace`, so a crash never leaves a half-written partition visible (DESIGN.md, storage). A
writer of many partitions (the sync) may pass `durable=False` and make a whole batch durable at once with
`make_durable` before it records them: fsyncs issued together share the filesystem's journal commits, about
ten times cheaper than one after the other (docs/benchmarks.md, "Sync").
Rows are de-duplicated by the dataset's `unique_key` (the last occurrence wins, so callers concatenate old
then new) and sorted by (`time_column`, unique key), stably.

Two ways in:
* `merge_partition`: read the partition, drop replaced days, add new rows, normalise, write. In memory; for
  bar-like (MONTH) partitions and small DAY ones.
* `write_partition_stream`: stream record batches of one tick-data day straight to Parquet with bounded
  memory; a stream that is not already sorted and unique is sorted out of core by DuckDB.

Errors are `StorageError` naming the path; rows outside the partition's period are a caller bug and
also a `StorageError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.datasets import DatasetSpec
from binance_lake.core.errors import StorageError
from binance_lake.core.partitions import Partition
from binance_lake.core.timerange import day_start
from binance_lake.storage import objects

ROW_GROUP_ROWS = 128 * 1024
"""Rows per Parquet row group: large enough for fast scans, small enough to skip by time statistics."""

COMPRESSION: Final = "zstd"


def writer_options(schema: pa.Schema) -> dict[str, Any]:
    """Parquet settings per schema: zstd level 1; dictionary pages only for text columns (prices, sizes and
    times are nearly unique, so trying a dictionary first only costs time); floats stored BYTE_STREAM_SPLIT,
    which compresses them better and decodes faster. Measured: ~2x faster writes and ~2x faster reads of a 1m
    klines month than pyarrow's defaults, at about the same size (docs/benchmarks.md). Every page carries a
    CRC32: zstd stores incompressible float bytes as raw literals, so a flipped byte there decodes without
    error into a wrong price; `check --deep` and `sync --repair` verify the CRCs."""
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    return {
        "compression": COMPRESSION,
        "compression_level": 1,
        "use_dictionary": text,
        "column_encoding": dict.fromkeys(floats, "BYTE_STREAM_SPLIT"),
        "write_page_checksum": True,
    }


SORT_MEMORY_LIMIT = "128MB"
"""DuckDB's memory limit when a stream must be sorted out of core; it spills to disk beyond this. DuckDB
overshoots it by about 100 MB, independent of the data size (bench/parse.py)."""

_ROW = "__row"


@dataclass(frozen=True)
class MergeResult:
    """What a write did to one partition file.

    `rows_added` counts result rows whose key was not among the existing rows that were kept;
    `rows_dropped` counts existing rows removed because their day was replaced. `size` and `mtime_ns` are the
    published file's, stat'ed right after the rename, for the lake's record of it (storage.inventory).
    """

    path: Path
    rows_before: int
    rows_after: int
    rows_added: int
    rows_dropped: int = 0
    size: int = field(default=0, compare=False)
    mtime_ns: int = field(default=0, compare=False)


# --- files ----------------------------------------------------------------------------------------------


def _temp_path(path: Path, suffix: str = "tmp") -> Path:
    # Hidden and not ending in .parquet, so globs over the lake never see it.
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{suffix}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    # Makes the rename durable; some filesystems cannot fsync a directory, which is not an error.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


DURABLE_THREADS = 16
"""fsyncs in flight at once in `make_durable`: the journal commits concurrent fsyncs together."""


def make_durable(paths: Iterable[Path]) -> None:
    """fsync every file of `paths`, then every directory holding one (their renames), concurrently.

    The durability barrier of a batch written with `durable=False`: once this returns, the files and their
    names survive a power cut. A file gone since (replaced again by a later write of the same batch) is
    skipped: the later write is in the batch too."""
    # Objects in a store are durable once their PUT returns (storage/objects.py).
    files = objects.remote_files(dict.fromkeys(paths))[0]
    if not files:
        return
    directories = list(dict.fromkeys(path.parent for path in files))
    with ThreadPoolExecutor(min(DURABLE_THREADS, len(files)), thread_name_prefix="fsync") as pool:
        list(pool.map(_fsync_existing, files))
        list(pool.map(fsync_directory, directories))


def _fsync_existing(path: Path) -> None:
    try:
        _fsync_file(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StorageError(f"cannot make partition {path} durable: {error}") from error


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _published(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file just renamed into place (an object just uploaded: its LastModified)."""
    if objects.located(path) is not None:
        published = objects.stat(path)
        if published is None:
            raise StorageError(f"partition {path} is not in the object store right after its upload")
        return published
    try:
        st = path.stat()
    except OSError as error:
        raise StorageError(f"cannot stat partition {path} after writing it: {error}") from error
    return st.st_size, st.st_mtime_ns


def _publish(temp: Path, path: Path, durable: bool = True) -> None:
    """fsync the finished temporary file and rename it over `path` (the fsyncs are the caller's, through
    `make_durable`, when not `durable`). In an object-storage lake: one atomic upload under the final key."""
    if objects.located(path) is not None:
        objects.put_file(temp, path)
        return
    if durable:
        _fsync_file(temp)
    temp.replace(path)  # os.replace: atomic on POSIX, overwrites on Windows too
    if durable:
        fsync_directory(path.parent)


def write_table_atomic(path: Path, table: pa.Table, *, durable: bool = True) -> None:
    """Write `table` as zstd Parquet at `path` atomically: temp file, fsync, `os.replace`.

    Parent directories are created. On any failure the temporary file is removed and the previous
    content of `path` (if any) stays as it was; OS and Arrow failures become `StorageError`. With
    `durable=False` the rename is still atomic, but surviving a power cut waits for `make_durable`.
    """
    temp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = _temp_path(path)
        pq.write_table(table, temp, row_group_size=ROW_GROUP_ROWS, **writer_options(table.schema))
        _publish(temp, path, durable)
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot write partition {path}: {error}") from error
    finally:
        if temp is not None:
            _remove(temp)


def read_partition(path: Path) -> pa.Table | None:
    """The partition's rows, or None when the file does not exist."""
    try:
        # ParquetFile reads exactly this file: no Hive partition columns are inferred from the path.
        with pq.ParquetFile(objects.source(path), pre_buffer=objects.pre_buffer(path)) as parquet:
            return parquet.read()
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot read partition {path}: {error}") from error


def partition_rows(path: Path) -> int:
    """Rows in a partition file from its footer (0 when it does not exist)."""
    try:
        with pq.ParquetFile(objects.source(path)) as parquet:
            return int(parquet.metadata.num_rows)
    except FileNotFoundError:
        return 0
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot read partition {path}: {error}") from error


# --- normalising: unique by key, sorted by time ----------------------------------------------------------


def sort_columns(spec: DatasetSpec) -> list[str]:
    """The sort order of a partition: the time column, then the rest of the unique key."""
    return [spec.time_column, *(k for k in spec.unique_key if k != spec.time_column)]


TableLike = pa.Table | pa.RecordBatch


def _strictly_increasing(table: TableLike, columns: Sequence[str]) -> bool:
    """True when every row's values of `columns` are lexicographically greater than the previous row's."""
    n = table.num_rows
    if n <= 1:
        return True
    greater: Any = None
    equal: Any = None
    for name in columns:
        column = table.column(name)
        if column.null_count:
            return False
        before, after = column.slice(0, n - 1), column.slice(1)
        gt, eq = pc.greater(after, before), pc.equal(after, before)
        if greater is None:
            greater, equal = gt, eq
        else:
            greater = pc.or_(greater, pc.and_(equal, gt))
            equal = pc.and_(equal, eq)
    return bool(pc.all(greater).as_py())


def is_normalized(table: TableLike, spec: DatasetSpec) -> bool:
    """Cheap check: already sorted by `sort_columns(spec)` and unique by the key (may say False for
    some normalised tables, e.g. whole-row keys with equal times; never True for an unnormalised one)."""
    if not _strictly_increasing(table, sort_columns(spec)):
        return False
    key = spec.unique_key
    if not key or spec.time_column in key:
        # Strictly increasing over (time, rest of key) makes the key (or, for whole-row keys, the row) unique.
        return True
    return len(key) == 1 and _strictly_increasing(table, key)


def normalize(table: pa.Table, spec: DatasetSpec) -> pa.Table:
    """Drop duplicate rows by `spec.unique_key`, keeping the LAST occurrence (newer data wins when old then
    new are concatenated; `()` means whole-row duplicates), then sort stably by `sort_columns(spec)`.

    A table that is already sorted and unique is returned as is after a vectorised check.
    """
    if is_normalized(table, spec):
        return table
    n = table.num_rows
    group_by = list(spec.unique_key) or table.column_names
    rows = pa.array(np.arange(n, dtype=np.int64))
    last = (
        table.select(group_by)
        .append_column(_ROW, rows)
        .group_by(group_by, use_threads=False)
        .aggregate([(_ROW, "max")])
        .column(f"{_ROW}_max")
    )
    # Taking the kept rows in file order keeps the following sort stable with respect to the input.
    kept = table.take(pc.take(last, pc.sort_indices(last)))
    order = pc.sort_indices(kept, sort_keys=[(c, "ascending") for c in sort_columns(spec)])
    return kept.take(order)


# --- merging into one partition ----------------------------------------------------------------------------


def _conform(table: TableLike, schema: pa.Schema, path: Path) -> Any:
    """The table in the partition's schema; a table with other columns is a caller bug."""
    if table.schema.equals(schema):
        return table
    if table.schema.names != schema.names:
        raise StorageError(
            f"{path}: columns {table.schema.names} do not match the lake schema {schema.names}"
        )
    try:
        return table.cast(schema)
    except (pa.ArrowException, ValueError) as error:
        raise StorageError(f"{path}: cannot convert rows to the lake schema: {error}") from error


_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def times_inside(times: Any, start: dt.datetime, end: dt.datetime) -> bool:
    """True when every value of a null-free timestamp column lies in [`start`, `end`) (also when it is empty);
    False when some value does not, or the column is not such a column (the caller then looks closer).

    Compared as integers in the column's unit: building two zoned datetime scalars costs ~0.1 ms, more than
    the check itself, and nearly every file and partition is inside."""
    if times.null_count or not pa.types.is_timestamp(times.type):
        return False
    ticks = pc.min_max(times.cast(pa.int64()))
    lowest, highest = ticks["min"].as_py(), ticks["max"].as_py()
    if lowest is None:
        return True
    per_second = _TICKS_PER_SECOND[times.type.unit]
    return bool(lowest >= int(start.timestamp()) * per_second and highest < int(end.timestamp()) * per_second)


def _bounds(partition: Partition) -> tuple[dt.datetime, dt.datetime]:
    return day_start(partition.first_day), day_start(partition.last_day + dt.timedelta(days=1))


def _check_inside(table: TableLike, partition: Partition, path: Path) -> None:
    time = table.column(partition.spec.time_column)
    if time.null_count:
        raise StorageError(f"{path}: {time.null_count} row(s) have no {partition.spec.time_column}")
    if len(time) == 0:
        return
    start, end = _bounds(partition)
    if times_inside(time, start, end):
        return
    bounds = pc.min_max(time)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low < start or high >= end:
        raise StorageError(
            f"{path}: rows from {low} to {high} fall outside the partition's period "
            f"{partition.first_day} .. {partition.last_day}"
        )


def _days_mask(table: pa.Table, time_column: str, days: set[dt.date]) -> Any:
    day_values = pc.cast(table.column(time_column), pa.date32())
    return pc.is_in(day_values, value_set=pa.array(sorted(days), pa.date32()))


def merge_partition(
    root: Path,
    partition: Partition,
    new: pa.Table,
    *,
    replace_days: set[dt.date] | None = None,
    durable: bool = True,
) -> MergeResult:
    """Merge `new` rows into the partition under `root` and write it atomically.

    Existing rows whose UTC day (of the time column) is in `replace_days` are dropped first (a re-uploaded
    daily file, or a monthly file replacing its days). Then existing + new are normalised: on equal keys the
    new row wins. A partition with no rows left is still written (empty), recording that it was processed.
    """
    spec = partition.spec
    path = root / partition.path
    schema = spec.schema(partition.market)
    new = _conform(new, schema, path)
    _check_inside(new, partition, path)
    existing = read_partition(path)
    rows_before = 0 if existing is None else existing.num_rows
    kept = None if existing is None else _conform(existing, schema, path)
    rows_dropped = 0
    if kept is not None and replace_days:
        mask = _days_mask(kept, spec.time_column, replace_days)
        kept = kept.filter(pc.invert(mask))
        rows_dropped = rows_before - kept.num_rows
    combined = new if kept is None else pa.concat_tables([kept, new])
    result = normalize(combined, spec)
    write_table_atomic(path, result, durable=durable)
    size, mtime_ns = _published(path)
    kept_rows = 0 if kept is None else kept.num_rows
    return MergeResult(
        path=path,
        rows_before=rows_before,
        rows_after=result.num_rows,
        rows_added=result.num_rows - kept_rows,
        rows_dropped=rows_dropped,
        size=size,
        mtime_ns=mtime_ns,
    )


# --- streaming one day of tick data -------------------------------------------------------------------


class _OrderTracker:
    """Whether a stream of batches is sorted and unique so far, checked batch by batch and across the
    boundary (the previous batch's last row is compared with the next batch's first)."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.ordered = True
        self._last: pa.RecordBatch | None = None

    def observe(self, batch: pa.RecordBatch) -> None:
        if not self.ordered or batch.num_rows == 0:
            return
        window = batch if self._last is None else pa.Table.from_batches([self._last, batch])
        self.ordered = is_normalized(window, self.spec)
        self._last = batch.slice(batch.num_rows - 1, 1)


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sort_query(source: Path, spec: DatasetSpec, columns: Sequence[str]) -> str:
    """SQL that de-duplicates (last occurrence wins) and sorts a Parquet file, stably by file order."""
    select = ", ".join(_quote_identifier(c) for c in columns)
    order = ", ".join(_quote_identifier(c) for c in sort_columns(spec))
    scan = f"read_parquet({_quote_literal(str(source))}, file_row_number = true)"
    if spec.unique_key:
        key = ", ".join(_quote_identifier(c) for c in spec.unique_key)
        return (
            f"SELECT {select} FROM {scan} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY file_row_number DESC) = 1 "
            f"ORDER BY {order}, file_row_number"
        )
    return (
        f"SELECT {select} FROM (SELECT {select}, max(file_row_number) AS {_ROW} FROM {scan} GROUP BY ALL) "
        f"ORDER BY {order}, {_ROW}"
    )


def sort_file_out_of_core(source: Path, target: Path, spec: DatasetSpec, schema: pa.Schema) -> int:
    """De-duplicate and sort a Parquet file into `target` with DuckDB under `SORT_MEMORY_LIMIT` (it spills
    to a scratch directory next to the target); returns the rows written. The sorted rows stream back as
    Arrow batches into our own writer, so the file has exactly the lake schema and row groups."""
    scratch = _temp_path(target, "duckdb")
    rows = 0
    # Give the memory Arrow cached while parsing back before DuckDB takes its share.
    pa.default_memory_pool().release_unused()
    try:
        connection = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": SORT_MEMORY_LIMIT,
                "temp_directory": str(scratch),
                "preserve_insertion_order": True,
            },
        )
        try:
            connection.execute("SET enable_progress_bar = false")  # it would draw on the user's terminal
            reader = connection.sql(_sort_query(source, spec, schema.names)).to_arrow_reader(ROW_GROUP_ROWS)
            with pq.ParquetWriter(target, schema, **writer_options(schema)) as writer:
                for batch in reader:
                    writer.write_table(
                        pa.Table.from_batches([batch]).cast(schema), row_group_size=ROW_GROUP_ROWS
                    )
                    rows += batch.num_rows
        finally:
            connection.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def write_partition_stream(
    root: Path,
    partition: Partition,
    batches: Iterable[pa.RecordBatch],
    spec: DatasetSpec,
    *,
    durable: bool = True,
) -> MergeResult:
    """Replace a partition with the rows of `batches`, streamed with bounded memory.

    Batches are written to a temporary Parquet file as they come, while a running check tracks whether
    the stream is sorted and unique by the key. Only if it is not is the file de-duplicated (last occurrence
    wins) and sorted out of core by DuckDB. The result is renamed into place atomically. Meant for one
    DAY partition of tick data; existing rows of the partition are replaced (`rows_dropped`).
    """
    if spec.name != partition.dataset:
        raise StorageError(f"write of {spec.name} rows into a {partition.dataset} partition")
    path = root / partition.path
    schema = spec.schema(partition.market)
    rows_before = partition_rows(path)
    temps: list[Path] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = _temp_path(path)
        temps.append(temp)
        tracker = _OrderTracker(spec)
        rows = _stream_to_parquet(temp, batches, schema, partition, path, tracker)
        if not tracker.ordered:
            sorted_temp = _temp_path(path)
            temps.append(sorted_temp)
            rows = sort_file_out_of_core(temp, sorted_temp, spec, schema)
            _remove(temp)
            temp = sorted_temp
        _publish(temp, path, durable)
    except (OSError, pa.ArrowException, duckdb.Error) as error:
        raise StorageError(f"cannot write partition {path}: {error}") from error
    finally:
        for temp_path in temps:
            _remove(temp_path)
    size, mtime_ns = _published(path)
    return MergeResult(
        path=path,
        rows_before=rows_before,
        rows_after=rows,
        rows_added=rows,
        rows_dropped=rows_before,
        size=size,
        mtime_ns=mtime_ns,
    )


def _stream_to_parquet(
    temp: Path,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    partition: Partition,
    path: Path,
    tracker: _OrderTracker,
) -> int:
    """Write batches in row groups of `ROW_GROUP_ROWS`; returns the number of rows written."""
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    with pq.ParquetWriter(temp, schema, **writer_options(schema)) as writer:
        for raw in batches:
            batch = _conform(raw, schema, path)
            _check_inside(batch, partition, path)
            tracker.observe(batch)
            pending.append(batch)
            pending_rows += batch.num_rows
            rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending, schema)
                full = (table.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
                writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_ROWS)
                rest = table.slice(full)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=ROW_GROUP_ROWS)
    return rows
