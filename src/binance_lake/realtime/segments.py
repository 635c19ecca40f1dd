"""Stream rows on disk: bounded segments flushed atomically, then compacted into the lake's normal partitions.

Rows wait in memory per series until `flush` (every few seconds, or at `segment_rows`) writes each series' rows
as one Parquet segment under `<root>/.stream/segments/<dataset>/market=<m>/[interval=<i>/]symbol=<S>/`,
atomically (`storage.parquet.write_table_atomic`). A crash loses at most the rows not yet flushed, and the
restart's REST repair refetches them. `compact` merges every segment into the partitions the archive also
writes (`merge_partition`: de-duplicated by the dataset's key, so segments written twice or overlapping a repair
cost nothing), records the partitions and the days with provenance `stream` (`storage.inventory`,
`storage.provenance`), and only then deletes the segments: a crash in between compacts them again to the same
rows. Days the archive already filled are left alone (the archive's rows win, as they replace REST rows).
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
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, record_partitions
from binance_lake.storage.parquet import merge_partition, normalize, write_table_atomic
from binance_lake.storage.provenance import DayRecord, DayRows, held_days, record_days

SEGMENTS_DIR = Path(".stream") / "segments"
_DIR = re.compile(
    r"(?P<dataset>[A-Za-z]+)/market=(?P<market>[a-z]+)/(?:interval=(?P<interval>[0-9a-z]+)/)?symbol=(?P<symbol>[A-Z0-9_]+)$"
)
ARCHIVE_SOURCES = frozenset({Provenance.ARCHIVE_DAILY, Provenance.ARCHIVE_MONTHLY})


def series_dir(series: SeriesKey) -> Path:
    part = f"interval={series.interval.value}/" if series.interval is not None else ""
    return Path(series.dataset, f"market={series.market.value}", f"{part}symbol={series.symbol}")


def series_of(directory: Path, base: Path) -> SeriesKey | None:
    match = _DIR.search(directory.relative_to(base).as_posix())
    if match is None:
        return None
    g = match.groupdict()
    return SeriesKey(
        Market(g["market"]), g["dataset"], Interval(g["interval"]) if g["interval"] else None, g["symbol"]
    )


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

    def take(self) -> dict[SeriesKey, list[dict[str, Any]]]:
        """Hand over the buffered rows (in the event loop), to be written by `write` (in a thread)."""
        pending, self._rows = self._rows, defaultdict(list)
        self.buffered = 0
        return pending

    def flush(self) -> int:
        """Write every buffered series as one segment each (atomically); returns the rows written."""
        return self.write(self.take())

    def write(self, pending: dict[SeriesKey, list[dict[str, Any]]]) -> int:
        written = 0
        for series, rows in pending.items():
            if not rows:
                continue
            spec = get_dataset(series.dataset)
            table = normalize(to_table(series, rows), spec)
            self._sequence += 1
            name = f"{self.session}-{self._sequence:08d}-{uuid.uuid4().hex[:6]}.parquet"
            write_table_atomic(self.base / series_dir(series) / name, table)
            written += table.num_rows
            self.segments += 1
        self.flushed_rows += written
        return written


@dataclass(frozen=True)
class Compaction:
    segments: int
    rows: int
    partitions: int


def pending_segments(root: Path) -> dict[SeriesKey, list[Path]]:
    base = root / SEGMENTS_DIR
    found: dict[SeriesKey, list[Path]] = defaultdict(list)
    if not base.is_dir():
        return found
    for path in sorted(base.rglob("*.parquet")):
        if path.name.startswith("."):
            continue
        series = series_of(path.parent, base)
        if series is not None:
            found[series].append(path)
    return found


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
    pending = pending_segments(root)
    if not pending:
        return Compaction(0, 0, 0)
    ensure_catalog(database)
    partitions: list[PartitionRecord] = []
    day_records: list[DayRecord] = []
    rows = 0
    for series, paths in pending.items():
        spec = get_dataset(series.dataset)
        tables = [pq.read_table(p) for p in paths]
        table = pa.concat_tables(tables) if tables else to_table(series, [])
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
            stored = _day_counts(pq.read_table(result.path, columns=[spec.time_column]), spec.time_column)
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
    count = 0
    for paths in pending.values():
        for path in paths:
            path.unlink(missing_ok=True)
            count += 1
    return Compaction(count, rows, len(partitions))


def last_stored(root: Path, series: SeriesKey, column: str) -> Any:
    """The largest `column` value the lake holds for a series: its partitions (the latest file that has rows)
    and its pending segments. None when nothing is stored."""
    best: Any = None
    candidates = [*pending_segments(root).get(series, [])]
    directory = (
        root
        / Partition(
            series.dataset, series.market, series.interval, series.symbol, _first_period(series)
        ).directory
    )
    if directory.is_dir():
        files = sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))
        candidates.extend(files[-2:])
    for path in candidates:
        table = pq.read_table(path, columns=[column])
        if table.num_rows:
            value = pc.max(table[column]).as_py()
            best = value if best is None or value > best else best
    return best


def _first_period(series: SeriesKey) -> dt.date:
    return partition_for_day(
        series.dataset, series.market, series.interval, series.symbol, dt.date(2020, 1, 1)
    ).period
