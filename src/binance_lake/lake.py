"""The user's API: `Lake(root)` and its `catalog`. Synchronous methods over the async core.

    from binance_lake import Lake
    lake = Lake("~/data/binance-lake")
    lake.catalog.refresh(markets=["um"], datasets=["klines"], intervals=["1h"])
    lake.catalog.snapshot("2024-01-15", markets="um", datasets="klines", intervals="1h")

Settings are resolved once here (flag > environment > binance-lake.toml > default) and passed down. Methods
run their coroutine on a private event loop, so they also work inside Jupyter, whose loop is already running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import pyarrow as pa

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.http import make_session
from binance_lake.binance.rest_client import RestClient
from binance_lake.binance.retry import CircuitBreaker, RetryPolicy
from binance_lake.catalog import queries
from binance_lake.catalog.probe import ProbeReport, probe
from binance_lake.catalog.refresh import RefreshProgress, RefreshReport, Selection, refresh
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import MissingDataWarning, UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.settings import Settings, check_root, resolve_settings
from binance_lake.core.symbols import normalize_symbol
from binance_lake.core.timerange import DateLike, parse_date
from binance_lake.core.vocabulary import Market, parse_interval, parse_market
from binance_lake.engine.executor import SyncProgress
from binance_lake.engine.sync import SyncReport, SyncRequest
from binance_lake.engine.sync import run_sync as sync_into
from binance_lake.load import aligned as load_aligned_
from binance_lake.load import status as load_status
from binance_lake.load import universe as load_universe_
from binance_lake.load import views as load_views
from binance_lake.load.missing import Gap, Missing, check_frame, deliver
from binance_lake.load.reader import load_table
from binance_lake.load.request import LoadRequest, SymbolsArg, build_request
from binance_lake.load.resample import resample_table
from binance_lake.load.stream import DEFAULT_BATCH_ROWS, Batches, iter_batches
from binance_lake.storage.database import Connection, LakeDatabase, WriterLock

T = TypeVar("T")
Frame = Literal["pandas", "polars", "arrow"]


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when a loop is already running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def convert(table: pa.Table, as_: Frame) -> Any:
    """Hand an Arrow table over in the frame type the caller asked for."""
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    if as_ == "polars":
        import polars as pl  # optional dependency, imported only when asked for

        return pl.from_arrow(table)
    raise UsageError(f"unknown frame type {as_!r}; expected pandas, polars or arrow")


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


NO_SYMBOLS = (
    "no symbols given; name at least one (--symbols BTCUSDT,ETHUSDT), or choose --all for every symbol"
)


def _chosen_symbols(settings: Settings, symbols: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """None (every symbol) when `symbols` is None; otherwise the named symbols and `@set` members, never
    empty: an explicitly empty list (`[]`, `",,"`, `" "`, an empty set) is a mistake, not "the whole market"."""
    if symbols is None:
        return None
    chosen = [part.strip() for part in _as_list(symbols) if part.strip()]
    expanded = tuple(settings.expand_symbols(",".join(chosen))) if chosen else ()
    if not expanded:
        raise UsageError(NO_SYMBOLS)
    return expanded


def _day(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_date(value)


Names = str | Iterable[str] | None  # one name, a comma-separated string, or several names; None: all


def _filters(markets: Names, datasets: Names, intervals: Names, symbol: str | None = None) -> queries.Filters:
    return queries.Filters(
        market=tuple(parse_market(m).value for m in _as_list(markets)) or None,
        dataset=tuple(get_dataset(d).name for d in _as_list(datasets)) or None,
        interval=tuple(parse_interval(i).value for i in _as_list(intervals)) or None,
        symbol=normalize_symbol(symbol) if symbol else None,
    )


def _renamed(new: str, value: T, old: str, old_value: T | None) -> T:
    """The value of keyword `new`, or of its old spelling `old` (kept for one release, with a warning)."""
    if old_value is None:
        return value
    warnings.warn(
        f"the keyword {old}= is now {new}= (the old spelling goes in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    if value is not None and value != old_value:
        raise UsageError(f"give {new}= only, not also its old spelling {old}=")
    return old_value


# A probe HEADs one file per series and day; ten years back is more than the archive holds for any series.
MAX_PROBE_DAYS = 3660


def check_days_back(days_back: int) -> int:
    if not 1 <= days_back <= MAX_PROBE_DAYS:
        raise UsageError(f"--days-back must be between 1 and {MAX_PROBE_DAYS} (ten years), not {days_back}")
    return days_back


def no_lake(root: Path) -> str:
    return f"no lake at {root} (run `binance-lake sync …` first, or pass --root)"


def _require_lake(database: LakeDatabase) -> None:
    """Reading commands never create a lake: a root without `lake.duckdb` (or partitions) is a usage error."""
    if not database.path.exists() and not (database.root / TABLES_DIR).is_dir():
        raise UsageError(no_lake(database.root))


class LakeCatalog:
    """What the archive holds, per file and per day (`Lake(...).catalog`)."""

    def __init__(self, settings: Settings, database: LakeDatabase) -> None:
        self._settings = settings
        self._database = database

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read-only connection to the catalog of an existing lake. The catalog tables are brought up to date
        first when the lake can be written; a read-only lake is read as it is (reading needs no write access)."""
        _require_lake(self._database)
        if self._database.writable():
            ensure_catalog(self._database)
        with self._database.connect(read_only=True) as connection:
            yield connection

    def _query(self, fn: Callable[..., pa.Table], *args: Any) -> pa.Table:
        with self._reading() as connection:
            return fn(connection, *args)

    def refresh(
        self,
        *,
        markets: str | Iterable[str] | None = None,
        datasets: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        intervals: str | Iterable[str] | None = None,
        concurrency: int = 32,
        progress: RefreshProgress | None = None,
        exchange_info: bool = True,
    ) -> RefreshReport:
        """List the archive (the chosen part of it) and record new, changed and gone files; with
        `exchange_info`, also the exchange's symbols (status, contract type) when its REST API answers."""
        selection = Selection(
            markets=tuple(parse_market(m) for m in _as_list(markets)) or tuple(Market),
            datasets=tuple(get_dataset(d).name for d in _as_list(datasets)),
            symbols=tuple(normalize_symbol(s) for s in _chosen_symbols(self._settings, symbols) or ()),
            intervals=tuple(parse_interval(i) for i in _as_list(intervals)),
        )
        if not any(selection.specs(m) for m in selection.markets):
            raise UsageError("none of the chosen datasets exists in the chosen markets")

        async def go() -> RefreshReport:
            async with make_session(limit=max(concurrency, 8)) as session:
                client = ArchiveClient(session, self._settings, breaker=CircuitBreaker())
                # exchangeInfo only adds fields to `symbols`: two quick attempts, then the refresh goes on.
                rest = RestClient(session, self._settings, retry=RetryPolicy(max_attempts=2, base_delay=0.2))
                return await client.stall.bounded(
                    refresh(
                        client,
                        self._database,
                        selection,
                        archive_url=self._settings.archive_url,
                        concurrency=concurrency,
                        progress=progress,
                        exchange=rest if exchange_info else None,
                    )
                )

        return run_sync(go())

    def probe(
        self,
        date: DateLike | None = None,
        *,
        days_back: int = 1,
        markets: Names = None,
        datasets: Names = None,
        intervals: Names = None,
        concurrency: int = 64,
        on_progress: Callable[[int, int], None] | None = None,
        market: str | None = None,
        dataset: str | None = None,
        interval: str | None = None,
    ) -> ProbeReport:
        """HEAD the daily files expected for `date` (default: yesterday, UTC) and the days before it.

        `markets`, `datasets`, `intervals`: one name, several, or None for all (`market=`, `dataset=`,
        `interval=` are the old spellings, kept for one release)."""
        check_days_back(days_back)
        last_day = _day(date) if date is not None else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        filters = _filters(
            _renamed("markets", markets, "market", market),
            _renamed("datasets", datasets, "dataset", dataset),
            _renamed("intervals", intervals, "interval", interval),
        )

        async def go() -> ProbeReport:
            async with make_session(limit=max(concurrency, 8)) as session:
                client = ArchiveClient(session, self._settings, breaker=CircuitBreaker())
                return await client.stall.bounded(
                    probe(
                        client,
                        self._database,
                        last_day=last_day,
                        days_back=days_back,
                        filters=filters,
                        concurrency=concurrency,
                        on_progress=on_progress,
                    )
                )

        return run_sync(go())

    def snapshot(
        self,
        date: DateLike,
        *,
        markets: Names = None,
        datasets: Names = None,
        intervals: Names = None,
        as_: Frame = "pandas",
        market: str | None = None,
        dataset: str | None = None,
        interval: str | None = None,
    ) -> Any:
        """Symbols with a file covering `date`, per market / dataset / interval.

        Like every catalog query: `markets`, `datasets`, `intervals` take one name, several, or None for all
        (the singular keywords are the old spellings, kept for one release); the result is a pandas frame
        unless `as_` says "polars" or "arrow"."""
        filters = _filters(
            _renamed("markets", markets, "market", market),
            _renamed("datasets", datasets, "dataset", dataset),
            _renamed("intervals", intervals, "interval", interval),
        )
        return convert(self._query(queries.snapshot, _day(date), filters), as_)

    def timeline(
        self,
        symbol: str,
        *,
        markets: Names = None,
        datasets: Names = None,
        intervals: Names = None,
        as_: Frame = "pandas",
        market: str | None = None,
        dataset: str | None = None,
        interval: str | None = None,
    ) -> Any:
        """Available spans, missing days, first and last day of each of the symbol's series: one row per
        series (the columns of `catalog.queries.timelines_table`), a frame like the other queries.
        `catalog.queries.timeline` gives the same as `Timeline` values. An unknown symbol is a `UsageError`."""
        filters = _filters(
            _renamed("markets", markets, "market", market),
            _renamed("datasets", datasets, "dataset", dataset),
            _renamed("intervals", intervals, "interval", interval),
            symbol,
        )
        with self._reading() as connection:
            found = queries.timeline(connection, filters)
            wanted = normalize_symbol(symbol)
            chosen = (filters.market,) if isinstance(filters.market, str) else filters.market or ()
            market = chosen[0] if len(chosen) == 1 else None
            if not found and not queries.known_symbol(connection, wanted, market):
                where = f"the {market} archive" if market else "the archive"
                hint = f" --markets {market}" if market else ""
                raise UsageError(
                    f"unknown symbol {wanted}: not in {where} (check the spelling, or run "
                    f"`binance-lake catalog symbols{hint}`)"
                )
        return convert(queries.timelines_table(found), as_)

    def range(
        self,
        start: DateLike,
        end: DateLike,
        *,
        markets: Names = None,
        datasets: Names = None,
        as_: Frame = "pandas",
        market: str | None = None,
        dataset: str | None = None,
    ) -> Any:
        """Symbols listed, delisted and active between `start` and `end` (whole days, inclusive)."""
        first, last = _day(start), _day(end)
        if last < first:
            raise UsageError(f"start {first} is after end {last}")
        filters = _filters(
            _renamed("markets", markets, "market", market),
            _renamed("datasets", datasets, "dataset", dataset),
            None,
        )
        return convert(self._query(queries.date_range, first, last, filters), as_)

    def earliest(
        self,
        *,
        markets: Names = None,
        datasets: Names = None,
        as_: Frame = "pandas",
        market: str | None = None,
        dataset: str | None = None,
    ) -> Any:
        """Earliest date per symbol per market and dataset."""
        filters = _filters(
            _renamed("markets", markets, "market", market),
            _renamed("datasets", datasets, "dataset", dataset),
            None,
        )
        return convert(self._query(queries.earliest, filters), as_)

    def synchronal(self, *, dataset: str = "klines", as_: Frame = "pandas") -> Any:
        """Base assets with a spot USDT pair and perpetuals in both um and cm (in one `dataset`)."""
        return convert(self._query(queries.synchronal, get_dataset(dataset).name), as_)

    def symbols(self, *, markets: Names = None, as_: Frame = "pandas", market: str | None = None) -> Any:
        """Every symbol the archive holds, delisted ones included, with a delisted flag."""
        chosen = _filters(_renamed("markets", markets, "market", market), None, None).market
        return convert(self._query(queries.symbols, chosen), as_)


class Lake:
    """A local mirror of Binance market data rooted at one directory."""

    def __init__(self, root: str | Path | None = None, *, settings: Settings | None = None) -> None:
        resolved = settings or resolve_settings()
        if root is not None:
            resolved = dataclasses.replace(resolved, root=Path(root).expanduser())
        check_root(resolved.root)
        self.settings = resolved
        self.database = LakeDatabase(resolved.root)

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def catalog(self) -> LakeCatalog:
        return LakeCatalog(self.settings, self.database)

    def sync(
        self,
        *,
        market: str = "um",
        datasets: str | Iterable[str] = ("klines",),
        symbols: str | Iterable[str] | None = None,
        intervals: str | Iterable[str] | None = None,
        start: DateLike,
        end: DateLike | None = None,
        include_delisted: bool = False,
        dry_run: bool = False,
        refresh: bool = True,
        concurrency: int = 16,
        keep_raw: bool = True,
        progress: SyncProgress | None = None,
        refresh_progress: RefreshProgress | None = None,
        refresh_catalog: bool | None = None,
        retry_quarantined: bool = False,
    ) -> SyncReport:
        """Mirror archive files into the lake: resumable, checksum-verified, parallel.

        `symbols` None means every symbol of the market that traded on any day of the range, delisted since or
        not (`--all`); an empty list is a `UsageError`; `include_delisted` adds the `…SETTLED` settlement
        series. `@name` entries expand to the named sets of binance-lake.toml. Dates are whole UTC days, both
        included; `end` defaults to today. `refresh` lists the chosen prefixes first (`refresh_catalog=` is its
        old spelling, kept for one release). Only one process may sync a lake at a time (`LakeLocked`
        otherwise). `dry_run` plans from the catalog as it is, lists and writes nothing, and reports the
        requested days the catalog never listed (`SyncReport.unlisted`).
        Quarantined files are fetched again when upstream changes them, or always with `retry_quarantined`.
        With requests outstanding and no answer for `settings.stall_timeout` seconds, it raises `Stalled`
        (the state is recorded; the same call resumes).
        """
        if refresh_catalog is not None:
            warnings.warn(
                "the keyword refresh_catalog= is now refresh= (the old spelling goes in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
            refresh = refresh_catalog
        first = _day(start)
        last = _day(end) if end is not None else dt.datetime.now(dt.UTC).date()
        chosen = _chosen_symbols(self.settings, symbols)
        request = SyncRequest(
            market=parse_market(market),
            datasets=tuple(get_dataset(d).name for d in _as_list(datasets)),
            first_day=first,
            last_day=last,
            intervals=tuple(parse_interval(i) for i in _as_list(intervals)),
            symbols=chosen or (),
            include_delisted=include_delisted,
        )
        request.validate()

        async def go() -> SyncReport:
            async with make_session(limit=max(concurrency, 8)) as session:
                client = ArchiveClient(session, self.settings, breaker=CircuitBreaker())
                return await client.stall.bounded(
                    sync_into(
                        request,
                        client=client,
                        database=self.database,
                        archive_url=self.settings.archive_url,
                        refresh_catalog=refresh,
                        dry_run=dry_run,
                        concurrency=concurrency,
                        keep_raw=keep_raw,
                        progress=progress,
                        refresh_progress=refresh_progress,
                        retry_quarantined=retry_quarantined,
                    )
                )

        if dry_run:
            return run_sync(go())
        with WriterLock(self.root):
            return run_sync(go())

    # --- reading the lake (binance_lake.load) ---
    # Every reader (load, load_universe, load_aligned, resample, sql, status, problems, and the catalog's
    # queries) returns a pandas frame unless `as_` asks for "polars" or "arrow".
    # Thin wrappers over binance_lake.load. Frames carry what the lake lacked: `frame.attrs["missing"]` for
    # pandas and polars, schema metadata for Arrow, `binance_lake.load.missing_of(frame)` for all three.

    def load(
        self,
        dataset: str,
        symbols: SymbolsArg,
        start: DateLike,
        end: DateLike | None = None,
        *,
        market: str = "um",
        interval: str | None = None,
        columns: Iterable[str] | None = None,
        as_: Frame = "pandas",
        fill: bool = False,
    ) -> Any:
        """Rows of `symbols` in the range, with a `symbol` column, sorted by (symbol, time).

        Dates are whole UTC days (both included); timestamps are half-open `[start, end)`. Symbols the lake
        never held are a `UsageError` naming the sync command; days it lacks are listed in the frame's
        `missing`. With `fill=True` the missing files are synced first.
        """
        request = build_request(
            dataset, symbols, start, end, market=market, interval=interval, columns=columns
        )
        check_frame(as_)
        if fill:
            self._fill(request)
        loaded = load_table(self.root, request)
        return deliver(loaded.table, loaded.missing, as_)

    def _fill(self, request: LoadRequest) -> None:
        loaded = load_table(self.root, request, require=False)
        # Days the catalog never listed are not in `missing` but may exist upstream: sync (which lists
        # exactly the asked days first) decides for those symbols too.
        wanted = sorted({*loaded.absent, *loaded.missing.symbols, *loaded.unlisted})
        if wanted:
            self.sync(
                market=request.market.value,
                datasets=[request.dataset],
                symbols=wanted,
                intervals=[request.interval.value] if request.interval is not None else None,
                start=request.range.first_day,
                end=request.range.last_day,
            )

    def load_universe(
        self,
        start: DateLike,
        end: DateLike | None = None,
        *,
        market: str = "um",
        dataset: str = "klines",
        interval: str | None = "1h",
        min_quote_volume: float | None = None,
        as_: Frame = "pandas",
    ) -> Any:
        """Every symbol listed in the window, delisted ones included, each only while listed; optional
        look-ahead-free volume filter (see `binance_lake.load.universe`)."""
        check_frame(as_)
        loaded = load_universe_.load_universe(
            self.root,
            start,
            end,
            market=market,
            dataset=dataset,
            interval=interval,
            min_quote_volume=min_quote_volume,
        )
        return deliver(loaded.table, loaded.missing, as_)

    def load_aligned(
        self,
        symbols: SymbolsArg,
        start: DateLike,
        end: DateLike | None = None,
        *,
        interval: str = "1h",
        market: str = "um",
        as_: Frame = "pandas",
        fill: bool = False,
    ) -> Any:
        """Klines with mark, index and premium closes, funding in force and latest metrics, as of each bar's
        close: never a value from the future (see `binance_lake.load.aligned`).

        Days the lake lacks are in the frame's `missing` and their columns are null; a dataset it holds for
        none of the symbols also raises a `MissingDataWarning`. With `fill=True` the missing days of every
        dataset are synced first (what the archive does not have stays missing)."""
        check_frame(as_)
        if fill:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingDataWarning)
                first = load_aligned_.load_aligned(
                    self.root, symbols, start, end, interval=interval, market=market
                )
            self._fill_gaps(first.missing, market)
        loaded = load_aligned_.load_aligned(self.root, symbols, start, end, interval=interval, market=market)
        return deliver(loaded.table, loaded.missing, as_)

    def _fill_gaps(self, missing: Missing, market: str) -> None:
        """Sync the gaps of `missing`, one sync per dataset and interval over the span of its gaps."""
        groups: dict[tuple[str, str | None], list[Gap]] = {}
        for gap in missing.gaps:
            groups.setdefault((gap.dataset, gap.interval), []).append(gap)
        for (dataset, interval), gaps in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1] or "")
        ):
            self.sync(
                market=market,
                datasets=[dataset],
                symbols=sorted({g.symbol for g in gaps}),
                intervals=[interval] if interval is not None else None,
                start=min(g.first_day for g in gaps),
                end=max(g.last_day for g in gaps),
            )

    def resample(
        self,
        symbols: SymbolsArg,
        start: DateLike,
        end: DateLike | None = None,
        *,
        interval: str,
        source: str = "1m",
        market: str = "um",
        dataset: str = "klines",
        drop_partial: bool = True,
        as_: Frame = "pandas",
    ) -> Any:
        """Load `source` bars and resample them to `interval` (see `binance_lake.load.resample`)."""
        request = build_request(dataset, symbols, start, end, market=market, interval=source)
        check_frame(as_)
        loaded = load_table(self.root, request)
        table = (
            resample_table(loaded.table, interval, drop_partial=drop_partial)
            if loaded.table.num_rows
            else loaded.table
        )
        return deliver(table, loaded.missing, as_)

    def sql(self, query: str, *, as_: Frame = "pandas", unsafe: bool = False) -> Any:
        """DuckDB over the lake: one view per dataset (`klines`, `fundingRate`, …) with `market`, `interval`
        and `symbol` columns, and the catalog attached as `lake`.

        A pandas frame by default, like `load` and every other reader here; `as_="arrow"` or `"polars"`.
        The query may only read, and only the lake (see `binance_lake.load.views`); `unsafe=True` lifts both
        limits: any statement, any file DuckDB can reach."""
        check_frame(as_)
        _require_lake(self.database)
        return convert(load_views.sql(self.root, query, unsafe=unsafe), as_)

    def status(self, *, as_: Frame = "pandas") -> Any:
        """Per dataset and symbol: days held, first/last day, ingested/failed/quarantined files, bytes."""
        check_frame(as_)
        _require_lake(self.database)
        return convert(load_status.status(self.root), as_)

    def problems(self, *, as_: Frame = "pandas") -> Any:
        """Files whose last state is failed or quarantined, with attempts and error."""
        check_frame(as_)
        _require_lake(self.database)
        return convert(load_status.problems(self.root), as_)

    def iter_batches(
        self,
        dataset: str,
        symbols: SymbolsArg,
        start: DateLike,
        end: DateLike | None = None,
        *,
        market: str = "um",
        interval: str | None = None,
        columns: Iterable[str] | None = None,
        fill: bool = False,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Batches:
        """`load`'s rows as a stream of Arrow record batches in (symbol, time) order, read one partition at
        a time (for exporters; see `binance_lake.load.stream`). Same arguments as `load` but `as_`; what the
        lake lacks is `Batches.missing`, known before the first batch."""
        request = build_request(
            dataset, symbols, start, end, market=market, interval=interval, columns=columns
        )
        if fill:
            self._fill(request)
        return iter_batches(self.root, request, batch_rows=batch_rows)
