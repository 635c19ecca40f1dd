"""Stream rows on disk: bounded segments flushed atomically, then compacted into the lake's normal partitions.

Rows wait in memory per series until `flush` (every few seconds, or at `segment_rows`) writes them as one
Parquet segment per dataset (all its symbols, in a `__symbol` column) under
`<root>/.stream/segments/<dataset>/market=<m>/[interval=<i>/]`, atomically (`storage.parquet.write_table_atomic`):
a handful of fsyncs a flush however many symbols stream (one file per series cost 150 fsyncs a second at 50
symbols, measured in bench/stream.py). A crash loses at most the rows not yet flushed, and the
restart's REST repair refetches them. `compact` merges every segment into the partitions the archive also
writes (`merge_partition`: de-duplicated by the dataset's key, so segments written twice or overlapping a repair
cost nothing), records the partitions and the days with provenance `stream` (`storage.inventory`,
`storage.provenance`), and only then deletes the segments: a crash in between compacts them again to the same
rows. Days the archive already filled are left alone (the archive's rows win, as they replace REST rows).

On an object-storage lake (`s3://…`, storage/objects.py) the segments stay in the local state directory
(`.stream/` is not one of the bucket's directories): they are the collector's working files, rewritten every
few seconds and read back only by this collector (at compaction, or by its restart on the same machine), so a
PUT per flush would add a round trip to every flush and make no reader's life easier. The compaction publishes
through the same path as a sync (`merge_partition`: one upload under the final key, then the record), and
`last_stored` finds a series' newest partitions from their records, never by listing the bucket.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition, partition_for_day
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, latest_recorded, record_partitions
from binance_lake.storage.parquet import merge_partition, normalize, write_table_atomic
from binance_lake.storage.provenance import DayRecord, DayRows, held_days, record_days

SEGMENTS_DIR = Path(".stream") / "segments"
SYMBOL_COLUMN = "__symbol"
_DIR = re.compile(r"(?P<dataset>[A-Za-z]+)/market=(?P<market>[a-z]+)(?:/interval=(?P<interval>[0-9a-z]+))?$")
ARCHIVE_SOURCES = frozenset({Provenance.ARCHIVE_DAILY, Provenance.ARCHIVE_MONTHLY})
Group = tuple[Market, str, Interval | None]


def group_dir(group: Group) -> Path:
    market, dataset, interval = group
    path = Path(dataset, f"market={market.value}")
    return path / f"interval={interval.value}" if interval is not None else path


def group_of(directory: Path, base: Path) -> Group | None:
    match = _DIR.search(directory.relative_to(base).as_posix())
    if match is None:
        return None
    g = match.groupdict()
    return Market(g["market"]), g["dataset"], Interval(g["interval"]) if g["interval"] else None


def to_table(series: SeriesKey, rows: list[dict[str, Any]]) -> pa.Table:
    schema = get_dataset(series.dataset).schema(series.market)
    return pa.Table.from_pylist(rows, schema=schema)


class SegmentWriter:
    """Buffers rows per series and writes them as segments; `buffered` is the rows not yet on disk."""

    def __init__(self, root: Path, session: str) -> None:
        self.base = root / SEGMENTS_DIR
        self.session = session
        self._rows: dict[SeriesKey, list[dict[str, Any]]] = defaultdict(list)
        self._sequence = 0
        self.buffered = 0
        self.flushed_rows = 0
        self.segments = 0

    def add(self, series: SeriesKey, row: dict[str, Any]) -> None:
        self._rows[series].append(row)
        self.buffered += 1

    def extend(self, series: SeriesKey, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(series, row)

    def take(self, hold: Iterable[SeriesKey] = ()) -> dict[SeriesKey, list[dict[str, Any]]]:
        """Hand over the buffered rows (in the event loop), to be written by `write` (in a thread); the series
        in `hold` keep theirs (a hole before them is not repaired yet)."""
        held = {s: self._rows.pop(s) for s in hold if s in self._rows}
        pending, self._rows = self._rows, defaultdict(list, held)
        self.buffered = sum(len(rows) for rows in held.values())
        return pending

    def flush(self) -> int:
        """Write every buffered series as one segment each (atomically); returns the rows written."""
        return self.write(self.take())

    def write(self, pending: dict[SeriesKey, list[dict[str, Any]]]) -> int:
        """One segment per (market, dataset, interval) of `pending`; returns the rows written."""
        groups: dict[Group, list[pa.Table]] = defaultdict(list)
        for series, rows in pending.items():
            if rows:
                table = normalize(to_table(series, rows), get_dataset(series.dataset))
                symbol = pa.array([series.symbol] * table.num_rows, pa.string())
                groups[(series.market, series.dataset, series.interval)].append(
                    table.append_column(SYMBOL_COLUMN, symbol)
                )
        written = 0
        for group, tables in groups.items():
            table = pa.concat_tables(tables)
            self._sequence += 1
            name = f"{self.session}-{self._sequence:08d}-{uuid.uuid4().hex[:6]}.parquet"
            write_table_atomic(self.base / group_dir(group) / name, table)
            written += table.num_rows
            self.segments += 1
        self.flushed_rows += written
        return written


@dataclass(frozen=True)
class Compaction:
    segments: int
    rows: int
    partitions: int


def pending_segments(root: Path) -> dict[Group, list[Path]]:
    base = root / SEGMENTS_DIR
    found: dict[Group, list[Path]] = defaultdict(list)
    if not base.is_dir():
        return found
    for path in sorted(base.rglob("*.parquet")):
        group = None if path.name.startswith(".") else group_of(path.parent, base)
        if group is not None:
            found[group].append(path)
    return found


def read_segments(root: Path) -> tuple[dict[SeriesKey, pa.Table], list[Path]]:
    """Every pending segment's rows by series, and the segment files read."""
    tables: dict[SeriesKey, list[pa.Table]] = defaultdict(list)
    paths: list[Path] = []
    for (market, dataset, interval), files in pending_segments(root).items():
        for path in files:
            table = pq.read_table(path)
            paths.append(path)
            symbols = table[SYMBOL_COLUMN]
            for symbol in pc.unique(symbols).to_pylist():
                rows = table.filter(pc.equal(symbols, pa.scalar(symbol, pa.string()))).drop_columns(
                    [SYMBOL_COLUMN]
                )
                tables[SeriesKey(market, dataset, interval, str(symbol))].append(rows)
    return {series: pa.concat_tables(parts) for series, parts in tables.items()}, paths


def _archive_days(database: LakeDatabase, series: SeriesKey, days: list[dt.date]) -> set[dt.date]:
    with database.connect() as connection:
        held = held_days(
            connection,
            market=series.market.value,
            dataset=series.dataset,
            interval=series.interval.value if series.interval else None,
            symbols=[series.symbol],
            first=min(days),
            last=max(days),
        )
    return {h.day for h in held if h.source in ARCHIVE_SOURCES}


def _day_counts(table: pa.Table, column: str) -> dict[dt.date, int]:
    counts: dict[dt.date, int] = {}
    if table.num_rows:
        days = pc.cast(table[column], pa.date32())
        values: Any = pc.value_counts(days)
        for entry in values.to_pylist():
            counts[entry["values"]] = int(entry["counts"])
    return counts


def compact(root: Path, database: LakeDatabase, upstream_ref: str) -> Compaction:
    """Merge every pending segment into its partitions, record them, then delete the segments."""
    pending, paths = read_segments(root)
    if not paths:
        return Compaction(0, 0, 0)
    ensure_catalog(database)
    partitions: list[PartitionRecord] = []
    day_records: list[DayRecord] = []
    rows = 0
    for series, table in sorted(pending.items()):
        spec = get_dataset(series.dataset)
        if not table.num_rows:
            continue
        counts = _day_counts(table, spec.time_column)
        skip = _archive_days(database, series, sorted(counts))
        by_partition: dict[Partition, list[dt.date]] = defaultdict(list)
        for day in counts:
            if day not in skip:
                by_partition[
                    partition_for_day(series.dataset, series.market, series.interval, series.symbol, day)
                ].append(day)
        for partition, days in sorted(by_partition.items()):
            lower = pa.scalar(day_start(min(days)), type=table[spec.time_column].type)
            upper = pa.scalar(day_start(max(days) + dt.timedelta(days=1)), type=table[spec.time_column].type)
            times = table[spec.time_column]
            part = table.filter(pc.and_(pc.greater_equal(times, lower), pc.less(times, upper)))
            part = part.filter(
                pc.is_in(pc.cast(part[spec.time_column], pa.date32()), pa.array(days, pa.date32()))
            )
            result = merge_partition(root, partition, part)
            # The partition as published: a local file, or on an s3:// lake the object just uploaded.
            written = pq.read_table(objects.source(result.path), columns=[spec.time_column])
            stored = _day_counts(written, spec.time_column)
            held = tuple(DayRows(d, upstream_ref, stored.get(d, 0)) for d in sorted(days))
            partitions.append(
                PartitionRecord(partition, result.rows_after, result.size, result.mtime_ns, held)
            )
            day_records.extend(
                DayRecord(partition, d.day, Provenance.STREAM, upstream_ref, None, d.rows) for d in held
            )
            rows += part.num_rows
    with database.connect() as connection:
        record_partitions(connection, partitions)
        record_days(connection, day_records)
    for path in paths:
        path.unlink(missing_ok=True)
    return Compaction(len(paths), rows, len(partitions))


def last_stored(root: Path, series: SeriesKey, column: str) -> Any:
    """The largest `column` value the lake holds for a series: its partitions (the latest file that has rows)
    and its pending segments. None when nothing is stored."""
    best: Any = None
    for path in pending_segments(root).get((series.market, series.dataset, series.interval), []):
        table = pq.read_table(path, columns=[column, SYMBOL_COLUMN])
        table = table.filter(pc.equal(table[SYMBOL_COLUMN], pa.scalar(series.symbol, pa.string())))
        if table.num_rows:
            value = pc.max(table[column]).as_py()
            best = value if best is None or value > best else best
    for path in _latest_partitions(root, series):
        table = pq.read_table(objects.source(path), columns=[column])
        if table.num_rows:
            value = pc.max(table[column]).as_py()
            best = value if best is None or value > best else best
    return best


def _latest_partitions(root: Path, series: SeriesKey) -> list[Path]:
    """The series' last two partition files (the latest one may be empty). On an object-storage lake, whose
    bucket is never listed, the last two recorded partitions whose objects are still what was recorded (one
    replaced or gone is left out: the repair then starts earlier, and the key de-duplicates the overlap)."""
    relative = Partition(
        series.dataset, series.market, series.interval, series.symbol, _first_period(series)
    ).directory
    directory = root / relative
    if objects.store_of(root) is None:
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))[-2:]
    database = LakeDatabase(root)
    if not database.path.exists():
        return []
    with database.connect(read_only=True) as connection:
        records = latest_recorded(connection, Path(relative).as_posix(), 2)
    paths = [root / path for path in sorted(records)]
    seen = objects.stats(paths)
    return [
        p for p, s, r in zip(paths, seen, (records[k] for k in sorted(records)), strict=True) if s == r[1:]
    ]


def _first_period(series: SeriesKey) -> dt.date:
    return partition_for_day(
        series.dataset, series.market, series.interval, series.symbol, dt.date(2020, 1, 1)
    ).period
