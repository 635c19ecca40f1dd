"""REST fill: every bar the archive does not have yet, up to the last closed bar, written as the archive's
partitions with provenance `rest`.

Planning is pure (`plan_rest_fill`): for each series it resumes after the newest stored day — the day after
it when the archive wrote that day (archive days are whole), that day itself when REST did (a provisional
day continues after its last stored bar) — or at the update's window for a series not held yet. It
ends at a delisted symbol's last day (`last_days`), and otherwise at
the last closed bar: a bar whose open time plus its length is still in the future is open and never asked
for (REST `endTime` is inclusive on open time, core/quirks.py). Funding ends at the server's now.

Running (`run_rest_fill`) fetches each window (`binance/rest_klines.py`), splits it into the lake's monthly
partitions and merges it in, replacing exactly the days of the window (they held only earlier REST rows), then
records the partitions and their days (`storage.inventory`, `storage.provenance`) in one connection. A kill
between the write and the record leaves days whose provenance still says where the next run resumes (a REST
day resumes after the last bar its partition holds): it fetches what is missing again and writes the same
rows, so an interrupted update loses and duplicates nothing.

Not the executor's `Source`: its plan items are archive files with `file_state` rows; a REST window has
neither, and its idempotence comes from replacing whole days instead (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.binance.rest_klines import fetch_funding, fetch_klines, kline_path
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.binance.rest_statistics import fetch_statistics, period_ms, statistics_path
from binance_lake.core.datasets import KLINE_FAMILY, REST_STATISTICS, get_dataset
from binance_lake.core.errors import BinanceLakeError, Restricted, UsageError
from binance_lake.core.partitions import Partition, partition_for_day
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.core.provenance import Provenance
from binance_lake.core.quirks import STATISTICS_REST_DAYS
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start, from_millis, iter_days, month_start, to_millis
from binance_lake.core.vocabulary import Market
from binance_lake.storage import objects
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, record_partitions, stat_of
from binance_lake.storage.parquet import merge_partition, read_partition
from binance_lake.storage.provenance import DayRecord, DayRows, record_days

FUNDING = "fundingRate"
REST_DATASETS: frozenset[str] = frozenset({*KLINE_FAMILY, FUNDING, *REST_STATISTICS})
"""Datasets the REST fill can fetch (the kline family, funding rates and the REST-only statistics)."""

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def rest_fillable(series: SeriesKey) -> bool:
    """Whether REST serves this series the way the archive stores it (spot has no mark/index/premium)."""
    if series.dataset not in REST_DATASETS:
        return False
    if series.dataset in REST_STATISTICS:
        return series.market in get_dataset(series.dataset).markets
    if series.market is Market.SPOT:
        return series.dataset == "klines"
    return series.market in (Market.UM, Market.CM)


@dataclass(frozen=True)
class HeldEnd:
    """The newest stored day of a series and who wrote it."""

    last_day: dt.date
    source: Provenance
    last_ms: int | None = None  # the newest stored time, when REST wrote that day (it may be part of a day)
    due_ms: int | None = None  # no new row can exist before this (funding: the next funding time)


@dataclass(frozen=True)
class RestWindow:
    """One series' bars to fetch: open (or funding) times in `[start_ms, end_ms]`, both included."""

    series: SeriesKey
    start_ms: int
    end_ms: int
    reaches_now: bool = False  # the window ends at the server's now (funding: the newest record's interval)

    @property
    def first_day(self) -> dt.date:
        return from_millis(self.start_ms).date()

    @property
    def last_day(self) -> dt.date:
        return from_millis(self.end_ms).date()


def last_closed_ms(series: SeriesKey, now_ms: int) -> int:
    """The newest time of `series` that is final at `now_ms`: the open time of the last closed bar (every bar
    opening at or before it has closed), or now for funding."""
    interval = series.interval
    if interval is None:
        return now_ms  # funding and statistics rows are point-in-time: final once their time has come
    if interval.is_calendar:
        return to_millis(day_start(month_start(from_millis(now_ms).date()))) - 1
    return now_ms - interval.milliseconds


def is_statistics(series: SeriesKey) -> bool:
    return series.dataset in REST_STATISTICS


def rest_horizon_ms(now_ms: int) -> int:
    """The oldest statistics time REST still serves (the latest 30 days, core/quirks.py)."""
    return now_ms - STATISTICS_REST_DAYS * DAY_MS


def resume_ms(held: HeldEnd | None, window_first: dt.date) -> int:
    """Where a series' fill starts: after its newest archive day, after its last stored bar on a REST day
    (the whole REST day when that bar is not known), or at the window's first day when the lake holds none
    of it."""
    if held is None:
        return to_millis(day_start(window_first))
    if held.source is Provenance.REST:
        if held.last_ms is not None:
            return held.last_ms + 1  # the bar after the last stored one
        return to_millis(day_start(held.last_day))
    return to_millis(day_start(held.last_day + dt.timedelta(days=1)))


def plan_rest_fill(
    series: Iterable[SeriesKey],
    held: Mapping[SeriesKey, HeldEnd],
    *,
    window_first: dt.date,
    now_ms: int,
    last_days: Mapping[SeriesKey, dt.date] | None = None,
) -> list[RestWindow]:
    """The REST windows of `series` (pure). `last_days` caps a series at its last trading day (a delisted
    symbol is never asked for after it)."""
    windows: list[RestWindow] = []
    for key in series:
        if not rest_fillable(key):
            continue
        end_held = held.get(key)
        if end_held is not None and end_held.due_ms is not None and now_ms < end_held.due_ms:
            continue  # e.g. the next funding time has not come: nothing new to ask for
        if is_statistics(key):
            # REST-only: every run collects what is new of the last 30 days (all of them for a new series).
            start = max(resume_ms(end_held, window_first), rest_horizon_ms(now_ms))
            if end_held is None:
                start = rest_horizon_ms(now_ms)
        else:
            start = resume_ms(end_held, window_first)
        end = last_closed_ms(key, now_ms)
        last_day = (last_days or {}).get(key)
        if last_day is not None:
            end = min(end, to_millis(day_start(last_day + dt.timedelta(days=1))) - 1)
        if start <= end:
            windows.append(RestWindow(key, start, end, reaches_now=end == now_ms))
    return windows


@dataclass(frozen=True)
class FilledSeries:
    """What the fill wrote for one series."""

    series: SeriesKey
    first_day: dt.date
    last_day: dt.date
    rows: int
    last_time: dt.datetime | None  # the newest row stored (open time for bars)


@dataclass(frozen=True)
class RestFillReport:
    windows: tuple[RestWindow, ...]
    filled: tuple[FilledSeries, ...] = ()
    failures: Mapping[str, str] = field(default_factory=dict)  # series text -> one sentence
    requests: int = 0
    weight: int = 0
    peak_weight: Mapping[str, int] = field(
        default_factory=dict
    )  # host setting -> most weight seen in a minute
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.filled)


def request_ref(client: MarketRestClient, window: RestWindow) -> str:
    """The REST request a window's rows came from, as recorded in `day_provenance.upstream_ref`."""
    s = window.series
    if s.dataset == FUNDING:
        return f"{client.url(s.market, '/fundingRate')}?symbol={s.symbol}&startTime={window.start_ms}&endTime={window.end_ms}"
    if is_statistics(s):
        name = "pair" if s.market is Market.CM else "symbol"
        return (
            f"{client.url(s.market, statistics_path(s.dataset))}?{name}={s.symbol}"
            f"&period={get_dataset(s.dataset).rest_period}&startTime={window.start_ms}&endTime={window.end_ms}"
        )
    name = "pair" if get_dataset(s.dataset).directory_is_pair else "symbol"
    interval = s.interval.rest_name if s.interval else ""
    return (
        f"{client.url(s.market, kline_path(s.dataset))}?{name}={s.symbol}&interval={interval}"
        f"&startTime={window.start_ms}&endTime={window.end_ms}"
    )


async def fetch_window(client: MarketRestClient, window: RestWindow) -> pa.Table:
    """The rows of one window, in the lake's columns."""
    s = window.series
    if s.dataset == FUNDING:
        return await fetch_funding(
            client, s.market, s.symbol, window.start_ms, window.end_ms, newest=window.reaches_now
        )
    if is_statistics(s):
        return await fetch_statistics(client, s, window.start_ms, window.end_ms)
    return await fetch_klines(client, s, window.start_ms, window.end_ms)


def _day_counts(table: pa.Table, column: str) -> dict[dt.date, int]:
    counts: dict[dt.date, int] = {}
    if table.num_rows:
        days: Any = pc.cast(table.column(column), pa.date32())
        entries: list[dict[str, Any]] = pc.value_counts(days).to_pylist()
        for entry in entries:
            counts[entry["values"]] = int(entry["counts"])
    return counts


def write_window(
    root: Path, window: RestWindow, table: pa.Table, ref: str
) -> tuple[list[PartitionRecord], list[DayRecord]]:
    """Merge a window's rows into its partitions; the records to write. The days the window covers from their
    start are replaced whole (they held only earlier REST rows); a first day the window starts inside (a REST
    day continued after its last stored bar) is merged into, and its rows counted in the merged partition."""
    s = window.series
    spec = get_dataset(s.dataset)
    counts = _day_counts(table, spec.time_column)
    partial = window.start_ms != to_millis(day_start(window.first_day))
    by_partition: dict[Partition, list[dt.date]] = {}
    for day in iter_days(window.first_day, window.last_day):
        partition = partition_for_day(s.dataset, s.market, s.interval, s.symbol, day)
        by_partition.setdefault(partition, []).append(day)
    partitions: list[PartitionRecord] = []
    records: list[DayRecord] = []
    column = table.column(spec.time_column) if table.num_rows else None
    for partition, days in by_partition.items():
        if column is not None:
            low = pa.scalar(day_start(days[0]), type=column.type)
            high = pa.scalar(day_start(days[-1] + dt.timedelta(days=1)), type=column.type)
            part = table.filter(pc.and_(pc.greater_equal(column, low), pc.less(column, high)))
        else:
            part = spec.schema(s.market).empty_table()
        if part.num_rows == 0 and (partial or stat_of(root / partition.path) is None):
            continue  # nothing new, or nothing to write and nothing to replace
        replace = {d for d in days if not (partial and d == window.first_day)}
        result = merge_partition(root, partition, part, replace_days=replace)
        day_counts = dict(counts)
        if partial and window.first_day in days:
            merged = read_partition(root / partition.path)
            if merged is not None:
                day_counts[window.first_day] = _day_counts(merged, spec.time_column).get(window.first_day, 0)
        day_rows = tuple(DayRows(d, ref, day_counts.get(d, 0)) for d in days)
        partitions.append(
            PartitionRecord(partition, result.rows_after, result.size, result.mtime_ns, day_rows)
        )
        records.extend(
            DayRecord(partition, d.day, Provenance.REST, ref, None, d.rows) for d in day_rows if d.rows
        )
    return partitions, records


def next_funding_ms(root: Path, series: SeriesKey, day: dt.date, last_ms: int) -> int | None:
    """When the funding after the one stored at `last_ms` is due: its hour plus its interval (funding times
    carry a few ms of jitter after the hour, reference §4.2)."""
    partition = partition_for_day(series.dataset, series.market, series.interval, series.symbol, day)
    path = root / partition.path
    if stat_of(path) is None:  # a file, or an object-storage lake's object
        return None
    table = pq.ParquetFile(objects.source(path)).read(columns=["calc_time", "funding_interval_hours"])
    if table.num_rows == 0:
        return None
    last = table.sort_by("calc_time").slice(table.num_rows - 1)
    hours = last.column("funding_interval_hours")[0].as_py()
    if not hours:
        return None
    return last_ms // HOUR_MS * HOUR_MS + int(hours) * HOUR_MS


def next_statistics_ms(series: SeriesKey, last_ms: int) -> int:
    """When the statistics row after the one stored at `last_ms` is due: one period later."""
    return last_ms + period_ms(series)


def last_stored_ms(root: Path, series: SeriesKey, day: dt.date) -> int | None:
    """The newest stored time of `series` on `day` (ms). On the series' newest stored day the partition holds
    nothing later, so the time column's maximum in the file's statistics (the footer only) is that time; the
    column is read only when the file also holds later rows or has no statistics."""
    partition = partition_for_day(series.dataset, series.market, series.interval, series.symbol, day)
    path = root / partition.path
    if stat_of(path) is None:
        return None
    spec = partition.spec
    low = to_millis(day_start(day)) * 1000
    high = to_millis(day_start(day + dt.timedelta(days=1))) * 1000
    newest = _max_time_us(path, spec.time_column)
    if newest is None or newest >= high:
        times: Any = pc.cast(
            pq.read_table(objects.source(path), columns=[spec.time_column]).column(0), pa.int64()
        )
        value = pc.max(times.filter(pc.less(times, pa.scalar(high, pa.int64())))).as_py()
        newest = None if value is None else int(value)
    if newest is None or newest < low:
        return None
    return newest // 1000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _max_time_us(path: Path, column: str) -> int | None:
    """The maximum of a timestamp column from the Parquet footer (µs), None without statistics."""
    metadata = pq.ParquetFile(objects.source(path)).metadata
    index = metadata.schema.names.index(column)
    newest: int | None = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None
        value: Any = stats.max
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            us = (aware - _EPOCH) // dt.timedelta(microseconds=1)
        else:
            us = int(value)
        newest = us if newest is None else max(newest, us)
    return newest


async def run_rest_fill(
    windows: Sequence[RestWindow],
    client: MarketRestClient,
    database: LakeDatabase,
    *,
    observe: Callable[[RestWindow, pa.Table, str], None] | None = None,
    progress: ProgressSink | None = None,
) -> RestFillReport:
    """Fetch and write every window: fetches run concurrently (the client bounds requests in flight and
    weight per host), writes one at a time. A series that fails is reported and the others go on.
    `observe` sees each window's fetched rows and request (what REST lacks is the caller's to record).
    `progress` gets `Phase.REST` events: windows done of the total, rows written, requests sent, failures."""
    counter = Progress(Phase.REST, progress)
    counter.expect(len(windows))
    loop = asyncio.get_running_loop()
    started = loop.time()
    write_lock = asyncio.Lock()
    recorder = _Recorder(database)
    filled: list[FilledSeries] = []
    failures: dict[str, str] = {}

    async def one(window: RestWindow) -> None:
        try:
            table = await fetch_window(client, window)
        except (Restricted, UsageError):
            raise  # the whole run is wrong (location, a bad symbol): one sentence, non-zero exit
        except BinanceLakeError as error:
            failures[str(window.series)] = str(error)
            counter.add(done=1, failures=1, pages=_sent())
            return
        ref = request_ref(client, window)
        if observe is not None:
            observe(window, table, ref)
        async with write_lock:
            partitions, records = await asyncio.to_thread(write_window, database.root, window, table, ref)
            await asyncio.to_thread(recorder.record, partitions, records)
        spec = get_dataset(window.series.dataset)
        last = table.column(spec.time_column)[-1].as_py() if table.num_rows else None
        filled.append(FilledSeries(window.series, window.first_day, window.last_day, table.num_rows, last))
        counter.add(done=1, rows=table.num_rows, pages=_sent())

    reported = client.requests

    def _sent() -> int:
        # Requests since the last event (the counters only grow; concurrent windows share the client).
        nonlocal reported
        new, reported = client.requests - reported, client.requests
        return max(new, 0)

    try:
        await asyncio.gather(*(one(w) for w in windows))
    finally:
        if recorder.connection is not None:
            await asyncio.to_thread(recorder.close)
    return RestFillReport(
        windows=tuple(windows),
        filled=tuple(sorted(filled, key=lambda f: f.series.sort_key())),
        failures=failures,
        requests=client.requests,
        weight=client.weight,
        peak_weight={b.host: b.peak for b in client.budgets.values()},
        seconds=loop.time() - started,
    )


class _Recorder:
    """Records each window's partitions and days as soon as they are written, over one connection for the
    whole fill (opened at the first write): a connection per window cost more than the writes."""

    def __init__(self, database: LakeDatabase) -> None:
        self.database = database
        self.connection: Connection | None = None
        self._context: Any = None

    def record(self, partitions: list[PartitionRecord], records: list[DayRecord]) -> None:
        if not partitions and not records:
            return
        if self.connection is None:
            self._context = self.database.connect()
            self.connection = self._context.__enter__()
        # Partitions first, then days, as engine/state.py's StateWriter does; each its own commit.
        record_partitions(self.connection, partitions)
        record_days(self.connection, records)

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self.connection = None
