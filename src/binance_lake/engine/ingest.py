"""Ingest verified archive zips into lake partitions: parse, keep each file's rows in its own days, merge.

Blocking (CPU and disk); the sync runs it in worker threads so downloads keep flowing (pyarrow releases the
GIL while it parses). `ingest_many` ingests several monthly partitions' groups at once, their small CSVs
parsed in one pyarrow call (`binance.csv_parse.parse_files`): most of a small file's parse is fixed cost.
Ingesting a file replaces the rows of exactly the days it covers, so ingesting the same file twice — after a
crash between writing a partition and recording the file as ingested — leaves the same rows: no loss, no
duplicates.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.binance.csv_parse import iter_batches, parse_file, parse_files
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import Granularity
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.partitions import Partition, partitions_of
from binance_lake.core.timerange import day_start
from binance_lake.storage.inventory import PartitionRecord
from binance_lake.storage.parquet import (
    MergeResult,
    merge_partition,
    normalize,
    times_inside,
    write_partition_stream,
)
from binance_lake.storage.provenance import DayRows

Published = list[PartitionRecord]
"""Collects the partition files an ingest published, for the lake's record of them (storage.inventory)."""


def _published(
    published: Published | None, partition: Partition, result: MergeResult, days: tuple[DayRows, ...]
) -> int:
    if published is not None:
        published.append(PartitionRecord(partition, result.rows_after, result.size, result.mtime_ns, days))
    return result.rows_after


def _rows_per_day(table: pa.Table, column: str, key: str, days: Iterable[dt.date]) -> list[DayRows]:
    """The rows `table` holds on each of `days` (zero included: the day was replaced with nothing)."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    times = table[column]
    if table.num_rows and times.null_count == 0:
        # Whole days since the epoch in numpy, counted into one slot per day of the span: a month of bars
        # costs microseconds, not a Python object per row (lake timestamps are microseconds, storage/schema).
        first = (wanted[0] - _EPOCH_DAY).days
        span = (wanted[-1] - wanted[0]).days + 1
        offsets = np.floor_divide(times.cast(pa.int64()).to_numpy(), _MICROS_PER_DAY) - first
        counts = np.bincount(offsets[(offsets >= 0) & (offsets < span)], minlength=span).tolist()
        return [DayRows(day, key, counts[(day - wanted[0]).days]) for day in wanted]
    held = dict.fromkeys(wanted, 0)
    if table.num_rows:
        for entry in pc.value_counts(_day_of(times)).to_pylist():
            value = entry["values"]
            if value is not None and value.date() in held:
                held[value.date()] = int(entry["counts"])
    return [DayRows(day, key, rows) for day, rows in held.items()]


_MICROS_PER_DAY = 86_400_000_000
_EPOCH_DAY = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Verified:
    """A downloaded file whose checksum was verified (or has none upstream), ready to ingest."""

    key: str
    file: ArchiveFile
    path: Path


def _within(table: pa.Table, column: str, first: dt.date, last: dt.date) -> pa.Table:
    """Rows whose time falls on `first .. last` (UTC days)."""
    times = table[column]
    start, end = day_start(first), day_start(last + dt.timedelta(days=1))
    if times_inside(times, start, end):
        return table  # every row is inside, as in nearly every file: no filtered copy
    lower = pa.scalar(start, type=times.type)
    upper = pa.scalar(end, type=times.type)
    mask = pc.and_(pc.greater_equal(times, lower), pc.less(times, upper))
    return table.filter(mask)


def ingest_month(
    root: Path,
    partition: Partition,
    files: Sequence[Verified],
    published: Published | None = None,
    *,
    durable: bool = True,
    parsed: Sequence[pa.Table] | None = None,
) -> dict[str, int]:
    """Merge bar-like files (one monthly file, or a month's daily files) into one monthly partition.

    Returns the rows each file contributed. All files of a partition go in one rewrite, so a month synced
    as 31 daily files is written once, not 31 times. `parsed`: the files' tables, already parsed (by
    `ingest_many`), in the order of `files`.
    """
    spec = partition.spec
    tables: list[pa.Table] = []
    rows: dict[str, int] = {}
    replace: set[dt.date] = set()
    days: list[DayRows] = []
    for index, item in enumerate(files):
        first = max(item.file.first_day, partition.first_day)
        last = min(item.file.last_day, partition.last_day)
        rows_of_file = parse_file(item.path, item.file) if parsed is None else parsed[index]
        table = _within(rows_of_file, spec.time_column, first, last)
        tables.append(table)
        rows[item.key] = table.num_rows
        covered = [d for d in item.file.days() if first <= d <= last]
        replace.update(covered)
        # Counted after dropping the file's duplicate rows, as the merge does: the day's rows as stored.
        days.extend(_rows_per_day(normalize(table, spec), spec.time_column, item.key, covered))
    merged = pa.concat_tables(tables) if tables else spec.schema(partition.market).empty_table()
    result = merge_partition(root, partition, merged, replace_days=replace, durable=durable)
    _published(published, partition, result, tuple(days))
    return rows


def _day_of(times: Any) -> Any:
    return pc.floor_temporal(times, unit="day")


def _split_by_day(item: Verified, scratch: Path) -> dict[dt.date, Path]:
    """Stream a multi-day tick file into one scratch Parquet file per day (bounded memory)."""
    spec = item.file.spec
    writers: dict[dt.date, pq.ParquetWriter] = {}
    paths: dict[dt.date, Path] = {}
    try:
        for batch in iter_batches(item.path, item.file):
            table = pa.Table.from_batches([batch])
            days = _day_of(table[spec.time_column])
            for value in pc.unique(days).to_pylist():
                if value is None:
                    continue
                day = value.date()
                if not item.file.first_day <= day <= item.file.last_day:
                    continue  # a stray row outside the file's own period is not this file's to write
                part = table.filter(pc.equal(days, pa.scalar(value, type=days.type)))
                if day not in writers:
                    paths[day] = scratch / f"{day.isoformat()}.parquet"
                    writers[day] = pq.ParquetWriter(paths[day], part.schema, compression="zstd")
                writers[day].write_table(part)
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def _batches_of(path: Path) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    try:
        yield from parquet.iter_batches(batch_size=256 * 1024)
    finally:
        parquet.close()


def _one_day(item: Verified, partition: Partition, result: MergeResult) -> tuple[DayRows, ...]:
    # A day partition is rewritten whole from this one file: its rows are that day's.
    return (DayRows(partition.period, item.key, result.rows_after),)


def ingest_days(
    root: Path, item: Verified, published: Published | None = None, *, durable: bool = True
) -> int:
    """Write a tick-like file into its day partitions, replacing each of those days. Returns rows written."""
    spec = item.file.spec
    partitions = partitions_of(item.file)
    if len(partitions) == 1:
        (partition,) = partitions
        result = write_partition_stream(
            root, partition, iter_batches(item.path, item.file), spec, durable=durable
        )
        return _published(published, partition, result, _one_day(item, partition, result))
    written = 0
    with tempfile.TemporaryDirectory(dir=root, prefix=".ingest-") as scratch:
        paths = _split_by_day(item, Path(scratch))
        for partition in partitions:
            path = paths.get(partition.period)
            batches: Iterator[pa.RecordBatch] = _batches_of(path) if path is not None else iter(())
            result = write_partition_stream(root, partition, batches, spec, durable=durable)
            written += _published(published, partition, result, _one_day(item, partition, result))
    return written


def group_for_ingest(items: Sequence[Verified]) -> dict[Partition | str, list[Verified]]:
    """Bar-like files grouped by their monthly partition; each tick-like file on its own (keyed by its key)."""
    groups: dict[Partition | str, list[Verified]] = defaultdict(list)
    for item in items:
        if item.file.spec.granularity is Granularity.MONTH:
            (partition,) = partitions_of(item.file)
            groups[partition].append(item)
        else:
            groups[item.key].append(item)
    return groups


def ingest(
    root: Path,
    target: Partition | str,
    items: Sequence[Verified],
    published: Published | None = None,
    *,
    durable: bool = True,
) -> dict[str, int]:
    """Ingest one group from `group_for_ingest`; returns rows per file key. The partitions written are
    appended to `published` when given. With `durable=False` the partitions are renamed into place without
    their fsyncs: the caller makes them durable (`storage.parquet.make_durable`) before recording them, as the
    sync's state writer does once per batch."""
    if isinstance(target, Partition):
        return ingest_month(root, target, items, published, durable=durable)
    (item,) = items
    return {item.key: ingest_days(root, item, published, durable=durable)}


def ingest_many(
    root: Path,
    groups: Sequence[tuple[Partition | str, Sequence[Verified]]],
    published: Sequence[Published],
    *,
    durable: bool = True,
) -> list[dict[str, int] | BinanceLakeError]:
    """Ingest several groups of `group_for_ingest` at once: for each, its rows per file key (as `ingest`
    returns them) or the error that stopped it; the partitions each group wrote are appended to its list of
    `published`. The files of monthly partitions are parsed together first (`parse_files`), each partition
    then merged and written as `ingest` does; a tick file is ingested alone. When the joint parse fails (a
    file in the batch cannot be read), each group is ingested on its own, so an error is only its group's."""
    months = [(i, target, items) for i, (target, items) in enumerate(groups) if isinstance(target, Partition)]
    try:
        tables = parse_files([(item.path, item.file) for _, _, items in months for item in items])
    except BinanceLakeError:
        tables = None
    parsed: dict[int, Sequence[pa.Table]] = {}
    if tables is not None:
        offset = 0
        for index, _, items in months:
            parsed[index] = tables[offset : offset + len(items)]
            offset += len(items)
    results: list[dict[str, int] | BinanceLakeError] = []
    for index, (target, items) in enumerate(groups):
        try:
            if index in parsed:
                assert isinstance(target, Partition)
                rows = ingest_month(
                    root, target, items, published[index], durable=durable, parsed=parsed[index]
                )
            else:
                rows = ingest(root, target, items, published[index], durable=durable)
        except BinanceLakeError as error:
            results.append(error)
        else:
            results.append(rows)
    return results
