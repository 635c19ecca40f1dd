"""Provisional → archive: what the REST or stream rows of a day were before the archive replaced them, and how
they differed.

Before an update's archive sync, `provisional_days` keeps the stored rows of every provisional day — from REST
or from a stream collector (`PROVISIONAL`) — of the chosen series (a few days each, in memory). The sync replaces a day whose archive file is now published (its
ingest replaces the days a file covers). `reconcile` then compares each kept day with what the lake holds now:
a day whose provenance became archive gets a `Reconciliation` with the provisional side's provenance (rows on one side only or with any value
different, and the columns that differed), recorded in `rest_reconciliations` (storage/reconciliation.py); a
day still provisional although the catalog lists an archive file for it is returned as `overdue`, so it is
reported, never silently kept. A plain `sync` does the same for the REST days its plan's files cover
(`provisional_in`), so a day replaced outside `update` is reconciled too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition, partition_for_day
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import Connection
from binance_lake.storage.parquet import read_partition
from binance_lake.storage.provenance import HeldDay, held_days, rest_days
from binance_lake.storage.reconciliation import Reconciliation

_EVER = (dt.date(1970, 1, 1), dt.date(9999, 12, 31))
PROVISIONAL = frozenset({Provenance.REST, Provenance.STREAM})
ARCHIVE = frozenset({Provenance.ARCHIVE_DAILY, Provenance.ARCHIVE_MONTHLY})


@dataclass(frozen=True)
class Provisional:
    """A provisional (REST or stream) day as stored before the archive sync."""

    series: SeriesKey
    partition: Partition
    day: dt.date
    ref: str
    rows: pa.Table
    source: Provenance = Provenance.REST


def _day_rows(root: Path, partition: Partition, day: dt.date) -> pa.Table:
    spec = partition.spec
    table = read_partition(root / partition.path)
    if table is None:
        return spec.schema(partition.market).empty_table()
    column = table.column(spec.time_column)
    low = pa.scalar(day_start(day), type=column.type)
    high = pa.scalar(day_start(day + dt.timedelta(days=1)), type=column.type)
    return table.filter(pc.and_(pc.greater_equal(column, low), pc.less(column, high)))


def _held(connection: Connection, series: SeriesKey) -> list[HeldDay]:
    return held_days(
        connection,
        market=series.market.value,
        dataset=series.dataset,
        interval=series.interval.value if series.interval else None,
        symbols=[series.symbol],
        first=_EVER[0],
        last=_EVER[1],
    )


def provisional_days(connection: Connection, root: Path, series: Iterable[SeriesKey]) -> list[Provisional]:
    """Every provisional (REST or stream) day of `series` with its stored rows."""
    found: list[Provisional] = []
    for key in series:
        archived = get_dataset(key.dataset).in_archive
        for held in _held(connection, key):
            # Stream-only datasets (markPrice, liquidations) stay stream: no archive day will replace them.
            if held.source not in PROVISIONAL or (held.source is Provenance.STREAM and not archived):
                continue
            partition = partition_for_day(key.dataset, key.market, key.interval, key.symbol, held.day)
            rows = _day_rows(root, partition, held.day)
            found.append(Provisional(key, partition, held.day, held.upstream_ref, rows, held.source))
    return found


def provisional_of(root: Path, days: Iterable[tuple[SeriesKey, HeldDay]]) -> list[Provisional]:
    """These provisional days (already read from `day_provenance`) with their stored rows."""
    found: list[Provisional] = []
    for key, held in days:
        partition = partition_for_day(key.dataset, key.market, key.interval, key.symbol, held.day)
        rows = _day_rows(root, partition, held.day)
        found.append(Provisional(key, partition, held.day, held.upstream_ref, rows, held.source))
    return found


def provisional_in(connection: Connection, root: Path, files: Iterable[ArchiveFile]) -> list[Provisional]:
    """The provisional (REST or stream) days the archive `files` cover (a sync's plan), with their rows: a plain
    sync replaces them when it ingests the files, and `reconcile` afterwards records how they differed."""
    # Each series' file periods, not a set of its days: a plan of 1,200 monthly files covers 36,000 days, and
    # hashing them all cost more than the query (provisional days are few, and a fresh lake has none).
    wanted: dict[Market, dict[SeriesKey, list[tuple[dt.date, dt.date]]]] = {}
    for f in files:
        key = SeriesKey(f.market, f.dataset, f.interval, f.symbol)
        wanted.setdefault(f.market, {}).setdefault(key, []).append((f.first_day, f.last_day))
    found: list[Provisional] = []
    for market, series in wanted.items():
        periods = [period for spans in series.values() for period in spans]
        held = rest_days(
            connection,
            market=market.value,
            datasets=sorted({k.dataset for k in series}),
            first=min(first for first, _ in periods),
            last=max(last for _, last in periods),
            sources=sorted(PROVISIONAL, key=lambda p: p.value),
        )
        for h in held:
            key = SeriesKey(market, h.dataset, Interval(h.interval) if h.interval else None, h.symbol)
            if any(first <= h.day <= last for first, last in series.get(key, ())):
                partition = partition_for_day(key.dataset, market, key.interval, key.symbol, h.day)
                rows = _day_rows(root, partition, h.day)
                found.append(Provisional(key, partition, h.day, h.upstream_ref, rows, h.source))
    return found


def compare(rest: pa.Table, archive: pa.Table, key: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    """(REST rows that differ, columns that differ) between the REST and archive versions of one day, matched
    on `key`: a REST row the archive lacks, or one with any value different; the columns are those where a
    matched row's values differ."""
    names = [n for n in rest.column_names if n not in key]
    left = rest.rename_columns([n if n in key else f"{n}__rest" for n in rest.column_names])
    right = archive.rename_columns([n if n in key else f"{n}__archive" for n in archive.column_names])
    left = left.append_column("__in_rest", pa.array([True] * left.num_rows, pa.bool_()))
    right = right.append_column("__in_archive", pa.array([True] * right.num_rows, pa.bool_()))
    joined = left.join(right, keys=list(key), join_type="full outer")
    # Rows the archive has and REST did not have yet (a day fetched while it was still running) are not a
    # difference; a REST row the archive lacks is.
    only_rest: Any = pc.is_null(joined.column("__in_archive"))
    only_one: Any = pc.or_(pc.is_null(joined.column("__in_rest")), only_rest)
    differs: Any = only_rest
    columns: list[str] = []
    for name in names:
        a: Any = joined.column(f"{name}__rest")
        b: Any = joined.column(f"{name}__archive")
        unequal: Any = pc.or_(pc.fill_null(pc.not_equal(a, b), False), pc.xor(pc.is_null(a), pc.is_null(b)))
        column_differs = pc.and_(pc.invert(only_one), unequal)
        if pc.any(column_differs).as_py():
            columns.append(name)
        differs = pc.or_(differs, column_differs)
    count = int(pc.sum(pc.cast(differs, pa.int64())).as_py() or 0)
    return count, tuple(columns)


@dataclass(frozen=True)
class Outcome:
    reconciled: tuple[Reconciliation, ...]
    overdue: tuple[Provisional, ...]  # still provisional although the archive lists a file for the day


def reconcile(
    connection: Connection, root: Path, kept: Sequence[Provisional], archived: set[tuple[SeriesKey, dt.date]]
) -> Outcome:
    """Compare each kept provisional day with what the lake holds now. `archived` is the (series, day)s the
    catalog lists an archive file for (a day still provisional among them is overdue)."""
    reconciled: list[Reconciliation] = []
    overdue: list[Provisional] = []
    by_series: dict[SeriesKey, dict[dt.date, HeldDay]] = {}
    for item in kept:
        if item.series not in by_series:
            by_series[item.series] = {h.day: h for h in _held(connection, item.series)}
        now = by_series[item.series].get(item.day)
        # Only the archive reconciles: a REST day a stream compaction touched (or the reverse) is still provisional.
        if now is None or now.source not in ARCHIVE:
            if (item.series, item.day) in archived:
                overdue.append(item)
            continue
        archive_rows = _day_rows(root, item.partition, item.day)
        spec = get_dataset(item.series.dataset)
        count, columns = compare(
            item.rows, archive_rows, spec.unique_key or tuple(spec.schema(item.series.market).names)
        )
        reconciled.append(
            Reconciliation(
                item.partition,
                item.day,
                item.ref,
                now.upstream_ref,
                item.rows.num_rows,
                archive_rows.num_rows,
                count,
                columns,
                item.source,
            )
        )
    return Outcome(tuple(reconciled), tuple(overdue))
