"""`update`: the lake reaches the last closed bar. Archive first (the existing sync), then REST for what the
archive has not published yet, provisional days reconciled.

One run, for the chosen series (default: every series the lake holds, of the chosen market):
1. the server's clock (`/time` of the market's REST host): "now" is Binance's, not this machine's;
2. the stored rows of every REST-provisional day are kept aside (`engine/reconcile.py`);
3. the archive sync of the window (`--days-back` days up to today, and back to the oldest provisional day
   and to the day after each series' newest stored day) for the series with a day in it not held from the
   archive (an up-to-date series costs no listing),
   one `run_sync` per group of series sharing datasets and symbols: it refreshes the catalog for the window
   and replaces the provisional days whose archive files are now published;
4. each replaced day is reconciled (`rest_reconciliations`); a day still provisional although the catalog lists
   its archive file is reported as overdue;
5. the REST fill (`engine/rest_fill.py`) from where each series stops, up to the last closed bar (a symbol
   exchangeInfo no longer lists as trading is never asked for after its newest stored day); with
   `fill_gaps`, also the days and bars missing inside each series' held range (`engine/rest_gaps.py`, at
   most `max_gap_days` days a series), and what REST lacks too recorded as confirmed gaps, never asked again.
A dry run plans the sync from the catalog and the REST windows from the lake, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.catalog.reads import listed_files, stopped_trading
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.progress import ProgressSink
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.symbols import pair_of
from binance_lake.core.timerange import day_start, from_millis, iter_days, month_start, to_millis
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.reconcile import Outcome, Provisional, provisional_of, reconcile
from binance_lake.engine.rest_fill import (
    HeldEnd,
    RestFillReport,
    RestWindow,
    is_statistics,
    last_stored_ms,
    next_funding_ms,
    next_statistics_ms,
    plan_rest_fill,
    run_rest_fill,
)
from binance_lake.engine.rest_gaps import confirm, grid_ms, missing_windows
from binance_lake.engine.sync import SyncOptions, SyncReport, SyncRequest, run_sync
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.provenance import HeldDay, held_days, rest_days, series_ends
from binance_lake.storage.reconciliation import Reconciliation, record_reconciliations
from binance_lake.storage.rest_gaps import RestGap, record_rest_gaps, rest_gaps

DEFAULT_DAYS_BACK = 3
DEFAULT_MAX_GAP_DAYS = 31


@dataclass(frozen=True)
class UpdateRequest:
    """What to update. Empty `datasets`/`intervals`/`symbols` mean every one the lake holds; `market` None
    means every market it holds."""

    market: Market | None = None
    datasets: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()
    symbols: tuple[str, ...] = ()
    days_back: int = DEFAULT_DAYS_BACK
    fill_gaps: bool = False
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS

    def __post_init__(self) -> None:
        if self.days_back < 0:
            raise UsageError(f"--days-back must be 0 or more, not {self.days_back}")
        if self.max_gap_days < 1:
            raise UsageError(f"--max-gap-days must be 1 or more, not {self.max_gap_days}")

    def wants(self, series: SeriesKey) -> bool:
        return (
            (self.market is None or series.market is self.market)
            and (not self.datasets or series.dataset in self.datasets)
            and (not self.intervals or series.interval is None or series.interval in self.intervals)
            and (not self.symbols or series.symbol in self.symbols)
        )


@dataclass(frozen=True)
class UpdateOptions:
    """How an update runs: `dry_run` writes nothing; `concurrency` bounds archive downloads and REST
    requests in flight; `weight_share` is the share of each REST host's 2400/min weight limit used."""

    dry_run: bool = False
    concurrency: int = 8
    weight_share: float = 0.8
    keep_raw: bool = True
    progress: ProgressSink | None = None


@dataclass(frozen=True)
class UpdateReport:
    """What an update did: the syncs, the REST fill, the reconciled provisional days and the overdue ones."""

    request: UpdateRequest
    now: dt.datetime  # the server's clock when the update started
    series: tuple[SeriesKey, ...]
    syncs: tuple[SyncReport, ...]
    fill: RestFillReport
    reconciled: tuple[Reconciliation, ...] = ()
    overdue: tuple[tuple[SeriesKey, dt.date], ...] = ()
    dry_run: bool = False
    provisional: Mapping[SeriesKey, tuple[dt.date, ...]] = field(default_factory=dict)
    last_bars: Mapping[SeriesKey, dt.datetime | None] = field(default_factory=dict)  # newest stored time
    notes: tuple[str, ...] = ()  # archive syncs that had nothing to do, in one sentence each
    confirmed_gaps: tuple[
        RestGap, ...
    ] = ()  # --fill-gaps windows REST lacks too, recorded (storage/rest_gaps.py)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.syncs) and not self.fill.failures and not self.overdue

    @property
    def rows(self) -> int:
        synced = sum(s.execution.rows for s in self.syncs if s.execution is not None)
        return synced + self.fill.rows

    def __repr__(self) -> str:
        return (
            f"UpdateReport(now={self.now.isoformat()}, series={len(self.series)}, syncs={len(self.syncs)}, "
            f"rest_windows={len(self.fill.windows)}, rest_rows={self.fill.rows}, "
            f"reconciled={len(self.reconciled)}, overdue={len(self.overdue)}, dry_run={self.dry_run}, ok={self.ok})"
        )

    def summary(self) -> dict[str, object]:
        fill = self.fill
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "series": [str(s) for s in self.series],
            "archive": {
                "syncs": len(self.syncs),
                "ingested_files": sum(s.execution.ingested for s in self.syncs if s.execution),
                "planned_files": sum(len(s.plan.fetch) for s in self.syncs),
                "rows": sum(s.execution.rows for s in self.syncs if s.execution),
            },
            "rest": {
                "windows": [
                    {
                        "series": str(w.series),
                        "start": from_millis(w.start_ms).isoformat(),
                        "end": from_millis(w.end_ms).isoformat(),
                    }
                    for w in fill.windows
                ],
                "rows": fill.rows,
                "requests": fill.requests,
                "weight": fill.weight,
                "peak_weight_per_minute": dict(fill.peak_weight),
                "seconds": round(fill.seconds, 3),
                "failures": dict(fill.failures),
                "last_bar": {
                    str(f.series): f.last_time.isoformat() if f.last_time else None for f in fill.filled
                },
            },
            "last_bar": {str(k): v.isoformat() if v else None for k, v in self.last_bars.items()},
            "provisional_days": {str(k): [d.isoformat() for d in v] for k, v in self.provisional.items()},
            "reconciled": [
                {
                    "path": r.path,
                    "day": r.day.isoformat(),
                    "rest_rows": r.rest_rows,
                    "archive_rows": r.archive_rows,
                    "differing_rows": r.differing_rows,
                    "columns": list(r.columns),
                }
                for r in self.reconciled
            ],
            "overdue": [{"series": str(s), "day": d.isoformat()} for s, d in self.overdue],
            "notes": list(self.notes),
            "confirmed_gaps": [
                {
                    "series": str(g.series),
                    "start": g.start.isoformat(),
                    "end": g.end.isoformat(),
                    "kind": g.kind.value,
                }
                for g in self.confirmed_gaps
            ],
            "ok": self.ok,
        }


async def server_now(rest: MarketRestClient, market: Market) -> dt.datetime:
    """Binance's clock (`GET /time` of the market's host): the last closed bar is the server's."""
    answer = await rest.get(market, "/time", {}, weight=1)
    if not isinstance(answer, dict) or not isinstance(answer.get("serverTime"), int):
        raise ServerError(f"the /time answer of {rest.url(market, '/time')} has no serverTime")
    return from_millis(int(answer["serverTime"]))


def _key(market: str, dataset: str, interval: str | None, symbol: str) -> SeriesKey:
    return SeriesKey(Market(market), dataset, Interval(interval) if interval else None, symbol)


def held_ends(
    connection: Connection, market: Market | None, root: Path | None = None
) -> dict[SeriesKey, HeldEnd]:
    """The newest stored day of every held series and its source; with `root`, the newest stored time of a
    REST day too (the fill continues after it)."""
    ends: dict[SeriesKey, HeldEnd] = {}
    for e in series_ends(connection, market=market.value if market else None):
        key = _key(e.market, e.dataset, e.interval, e.symbol)
        last_ms = due_ms = None
        if root is not None and e.source is Provenance.REST:
            last_ms = _grid_last_ms(key, e.last_day, e.rows)
            if last_ms is None:
                last_ms = last_stored_ms(root, key, e.last_day)
            if key.dataset == "fundingRate" and last_ms is not None:
                due_ms = next_funding_ms(root, key, e.last_day, last_ms)
            elif is_statistics(key) and last_ms is not None:
                due_ms = next_statistics_ms(key, last_ms)
        ends[key] = HeldEnd(e.last_day, e.source, last_ms, due_ms)
    return ends


def rest_days_of(connection: Connection, series: Sequence[SeriesKey]) -> list[tuple[SeriesKey, HeldDay]]:
    """The provisional days (REST, or a stream collector's) of the archive datasets among `series` (one query
    a market): REST-only datasets' days are REST for good and never wait for the archive."""
    wanted = {s for s in series if get_dataset(s.dataset).in_archive}
    found: list[tuple[SeriesKey, HeldDay]] = []
    for market in sorted({s.market for s in wanted}, key=lambda m: m.value):
        datasets = sorted({s.dataset for s in wanted if s.market is market})
        for h in rest_days(
            connection,
            market=market.value,
            datasets=datasets,
            first=dt.date(1970, 1, 1),
            last=dt.date(9999, 12, 31),
            sources=(Provenance.REST, Provenance.STREAM),
        ):
            key = _key(market.value, h.dataset, h.interval, h.symbol)
            if key in wanted:
                found.append((key, h))
    return found


def _grid_last_ms(series: SeriesKey, day: dt.date, rows: int | None) -> int | None:
    """A lower bound of the newest stored time of a REST day on a fixed grid, from its row count alone (the
    k-th row of a day is at least k-1 steps after midnight): exact for a day filled from its start without
    holes, never later than the truth (a hole only makes the next fill ask a few bars again). Saves reading
    a partition footer per series; None without a grid."""
    step = next_statistics_ms(series, 0) if is_statistics(series) else grid_ms(series)
    if step is None or not rows:
        return None
    return to_millis(day_start(day)) + (rows - 1) * step


def chosen_series(request: UpdateRequest, held: Mapping[SeriesKey, HeldEnd]) -> tuple[SeriesKey, ...]:
    """The held series the request selects, plus the ones it names explicitly (a full market, datasets,
    symbols and, where needed, intervals) that the lake does not hold yet."""
    chosen = {s for s in held if request.wants(s)}
    if request.market is not None and request.datasets and request.symbols:
        for dataset in request.datasets:
            spec = get_dataset(dataset)
            intervals: Sequence[Interval | None] = request.intervals if spec.has_interval else (None,)
            for interval in intervals:
                for symbol in request.symbols:
                    if request.market is Market.CM and is_statistics(
                        SeriesKey(request.market, dataset, None, symbol)
                    ):
                        symbol = pair_of(symbol)  # CM's statistics are per pair
                    chosen.add(SeriesKey(request.market, dataset, interval, symbol))
    return tuple(sorted(chosen, key=lambda s: s.sort_key()))


def sync_requests(series: Sequence[SeriesKey], first: dt.date, last: dt.date) -> list[SyncRequest]:
    """One sync request per (market, dataset, symbols) with the intervals held for exactly those symbols, so
    a sync never adds a series the update was not asked for."""
    by_interval: dict[tuple[Market, str, Interval | None], set[str]] = defaultdict(set)
    for s in series:
        by_interval[(s.market, s.dataset, s.interval)].add(s.symbol)
    grouped: dict[tuple[Market, str, tuple[str, ...]], list[Interval]] = defaultdict(list)
    for (market, dataset, interval), symbols in by_interval.items():
        entry = grouped[(market, dataset, tuple(sorted(symbols)))]
        if interval is not None:
            entry.append(interval)
    return [
        SyncRequest(market, (dataset,), first, last, tuple(sorted(intervals)), symbols)
        for (market, dataset, symbols), intervals in sorted(
            grouped.items(), key=lambda kv: (kv[0][0].value, kv[0][1], kv[0][2])
        )
    ]


def needs_archive(
    connection: Connection, series: Sequence[SeriesKey], first: dt.date, today: dt.date
) -> list[SeriesKey]:
    """The series with a day in `first .. yesterday` not held from the archive (missing, or REST-provisional):
    only those need an archive sync (and its listing). Today is never in the archive; a monthly-only dataset's
    current month is not either."""
    groups: dict[tuple[Market, str, Interval | None], list[SeriesKey]] = defaultdict(list)
    for key in series:
        if get_dataset(key.dataset).in_archive:  # REST-only and stream-only datasets have no archive
            groups[(key.market, key.dataset, key.interval)].append(key)
    needed: list[SeriesKey] = []
    for (market, dataset, interval), keys in groups.items():
        last = today - dt.timedelta(days=1)
        if get_dataset(dataset).cadences == frozenset({Cadence.MONTHLY}):
            last = min(last, month_start(today) - dt.timedelta(days=1))
        if last < first:
            continue
        archived: dict[str, set[dt.date]] = defaultdict(set)
        for h in held_days(
            connection,
            market=market.value,
            dataset=dataset,
            interval=interval.value if interval else None,
            symbols=[k.symbol for k in keys],
            first=first,
            last=last,
        ):
            if h.source is not Provenance.REST:
                archived[h.symbol].add(h.day)
        wanted = set(iter_days(first, last))
        needed.extend(k for k in keys if not wanted <= archived[k.symbol])
    return needed


def _last_days(
    connection: Connection, series: Sequence[SeriesKey], held: Mapping[SeriesKey, HeldEnd]
) -> dict[SeriesKey, dt.date]:
    """Series of symbols that no longer trade end at their newest stored day: never asked from REST after it."""
    stopped: dict[Market, set[str]] = {}
    ends: dict[SeriesKey, dt.date] = {}
    for key in series:
        if key.market not in stopped:
            stopped[key.market] = stopped_trading(connection, key.market)
        if key.symbol in stopped[key.market]:
            end = held.get(key)
            # Not held at all: nothing to resume, and nothing REST still serves.
            ends[key] = end.last_day if end is not None else dt.date(1970, 1, 1)
    return ends


def _archived_days(connection: Connection, kept: Sequence[Provisional]) -> set[tuple[SeriesKey, dt.date]]:
    """The (series, day)s of `kept` the catalog lists an archive file for."""
    found: set[tuple[SeriesKey, dt.date]] = set()
    by_series: dict[SeriesKey, list[dt.date]] = defaultdict(list)
    for item in kept:
        by_series[item.series].append(item.day)
    for key, days in by_series.items():
        files = listed_files(
            connection,
            key.market,
            key.dataset,
            [key.symbol],
            [key.interval.value] if key.interval else [],
            min(days),
            max(days),
        )
        for f in files:
            found.update((key, d) for d in days if f.file.first_day <= d <= f.file.last_day)
    return found


def _where_series_stand(
    connection: Connection,
    root: Path,
    series: Sequence[SeriesKey],
    held: Mapping[SeriesKey, HeldEnd],
    fill: RestFillReport,
    first: dt.date,
    last: dt.date,
) -> tuple[dict[SeriesKey, tuple[dt.date, ...]], dict[SeriesKey, dt.datetime | None]]:
    """After the run: each series' provisional (REST) days within `first .. last`, and its newest stored time:
    the fill's newest row, else the newest stored before it (`held`, read before the fill; a partition footer
    for a series whose newest day came from the archive)."""
    chosen = set(series)
    newest: dict[SeriesKey, int | None] = {k: e.last_ms for k, e in held.items() if k in chosen}
    for f in fill.filled:
        if f.last_time is not None:
            filled = to_millis(f.last_time)
            newest[f.series] = max(filled, newest.get(f.series) or filled)
    last_bars: dict[SeriesKey, dt.datetime | None] = {}
    for key in series:
        ms = newest.get(key)
        if ms is None and key in held:
            ms = last_stored_ms(root, key, held[key].last_day)
        last_bars[key] = from_millis(ms) if ms is not None else None
    provisional: dict[SeriesKey, list[dt.date]] = defaultdict(list)
    for market in sorted({s.market for s in chosen}, key=lambda m: m.value):
        datasets = sorted({s.dataset for s in chosen if s.market is market})
        for h in rest_days(connection, market=market.value, datasets=datasets, first=first, last=last):
            key = _key(market.value, h.dataset, h.interval, h.symbol)
            if key in chosen:
                provisional[key].append(h.day)
    return {k: tuple(v) for k, v in provisional.items()}, last_bars


def _gap_windows(
    connection: Connection,
    root: Path,
    request: UpdateRequest,
    series: Sequence[SeriesKey],
    window_first: dt.date,
    now_ms: int,
) -> list[RestWindow]:
    """`--fill-gaps`: what is missing inside the held ranges, less the confirmed gaps (engine/rest_gaps.py)."""
    by_series: dict[SeriesKey, list[RestGap]] = defaultdict(list)
    for gap in rest_gaps(connection, series):
        by_series[gap.series].append(gap)
    return missing_windows(
        connection,
        root,
        series,
        before=window_first,
        max_days=request.max_gap_days,
        now_ms=now_ms,
        confirmed=by_series,
    )


async def _fill_and_confirm(
    windows: Sequence[RestWindow],
    gaps: Sequence[RestWindow],
    rest: MarketRestClient,
    database: LakeDatabase,
    progress: ProgressSink | None,
) -> tuple[RestFillReport, list[RestGap]]:
    """The REST fill; what the gap windows' answers lack is recorded as confirmed gaps."""
    asked = set(gaps)
    fetched: list[tuple[RestWindow, pa.Table, str]] = []

    def observe(window: RestWindow, table: pa.Table, ref: str) -> None:
        if window in asked:
            fetched.append((window, table, ref))

    fill = await run_rest_fill(windows, rest, database, observe=observe, progress=progress)
    confirmed = confirm(fetched)
    if confirmed:
        with database.connect() as connection:
            record_rest_gaps(connection, confirmed)
    return fill, confirmed


async def run_update(
    request: UpdateRequest,
    *,
    archive: ArchiveClient,
    rest: MarketRestClient,
    database: LakeDatabase,
    archive_url: str,
    options: UpdateOptions = UpdateOptions(),
) -> UpdateReport:
    """Run one update (see the module docstring). The caller holds the writer lock unless it is a dry run."""
    if not options.dry_run:
        ensure_catalog(database)
    if not database.path.exists():
        raise UsageError(f"there is no lake at {database.root} yet; run `binance-lake sync` first")
    with database.connect(read_only=options.dry_run) as connection:
        held = held_ends(connection, request.market)
        series = chosen_series(request, held)
        if not series:
            raise UsageError(
                "the lake holds no series matching the request; sync some first, or name --market, --datasets, "
                "--intervals and --symbols"
            )
        rest_held = rest_days_of(connection, series)
    market = request.market or series[0].market
    now = await server_now(rest, market)
    now_ms = to_millis(now)
    today = now.date()
    window_first = today - dt.timedelta(days=request.days_back)
    # The archive first, from the day after each series' newest stored day (or the oldest provisional day).
    resumes = [held[s].last_day + dt.timedelta(days=1) for s in series if s in held]
    sync_first = min([window_first, *(h.day for _, h in rest_held), *(d for d in resumes if d <= today)])
    sync_options = SyncOptions(
        refresh=True,
        dry_run=options.dry_run,
        concurrency=options.concurrency,
        keep_raw=options.keep_raw,
        progress=options.progress,
        reconcile=False,  # the update reconciles its own kept provisional days, below
    )
    syncs: list[SyncReport] = []
    notes: list[str] = []
    with database.connect(read_only=options.dry_run) as connection:
        to_sync = needs_archive(connection, series, sync_first, today)
    # Only the series synced can have a provisional day replaced: keep those days' rows aside.
    syncing = set(to_sync)
    kept = provisional_of(database.root, [(k, h) for k, h in rest_held if k in syncing])
    for sync_request in sync_requests(to_sync, sync_first, today):
        sync_request.validate()
        try:
            syncs.append(
                await run_sync(
                    sync_request,
                    client=archive,
                    database=database,
                    archive_url=archive_url,
                    options=sync_options,
                )
            )
        except UsageError as error:
            # The archive lists nothing of these symbols for the window (a monthly-only dataset in its first
            # month, a series held from REST only): nothing to sync; REST still fills it.
            notes.append(f"archive: {', '.join(sync_request.datasets)}: {error}")
    outcome = Outcome((), ())
    with database.connect(read_only=options.dry_run) as connection:
        if not options.dry_run:
            outcome = reconcile(connection, database.root, kept, _archived_days(connection, kept))
            record_reconciliations(connection, outcome.reconciled)
        held = held_ends(connection, request.market, database.root)
        windows = plan_rest_fill(
            series,
            held,
            window_first=window_first,
            now_ms=now_ms,
            last_days=_last_days(connection, series, held),
        )
        gaps = (
            _gap_windows(connection, database.root, request, series, window_first, now_ms)
            if request.fill_gaps
            else []
        )
        windows.extend(gaps)
    confirmed: list[RestGap] = []
    if options.dry_run:
        fill = RestFillReport(tuple(windows), requests=rest.requests, weight=rest.weight)
    else:
        fill, confirmed = await _fill_and_confirm(windows, gaps, rest, database, options.progress)
    provisional: dict[SeriesKey, tuple[dt.date, ...]] = {}
    last_bars: dict[SeriesKey, dt.datetime | None] = {}
    if not options.dry_run:
        with database.connect() as connection:
            provisional, last_bars = _where_series_stand(
                connection, database.root, series, held, fill, sync_first, today
            )
    return UpdateReport(
        request,
        now,
        series,
        tuple(syncs),
        fill,
        reconciled=outcome.reconciled,
        overdue=tuple((p.series, p.day) for p in outcome.overdue),
        dry_run=options.dry_run,
        provisional=provisional,
        last_bars=last_bars,
        notes=tuple(notes),
        confirmed_gaps=tuple(confirmed),
    )
