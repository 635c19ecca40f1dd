"""`Lake(...).catalog`: what the archive holds, per file and per day. Each method builds its request
(`catalog.request`), runs the catalog stage, and hands the answer over as a frame (`facade.frames`)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from binance_lake.binance.clients import Clients
from binance_lake.binance.retry import RetryPolicy
from binance_lake.catalog import queries
from binance_lake.catalog.probe import ProbeReport, probe
from binance_lake.catalog.refresh import RefreshReport, refresh
from binance_lake.catalog.reports import REPORT_MARKETS, ReportFile, build_reports, write_reports
from binance_lake.catalog.request import (
    build_filters,
    build_selection,
    check_days_back,
    day_span,
    probe_last_day,
)
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.choices import Names, as_day
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.progress import ProgressSink, from_done_total
from binance_lake.core.settings import Settings
from binance_lake.core.symbols import normalize_symbol
from binance_lake.core.timerange import DateLike
from binance_lake.facade.existing import require_lake
from binance_lake.facade.frames import Frame, convert
from binance_lake.facade.keywords import renamed
from binance_lake.facade.loop import run_online
from binance_lake.storage.database import Connection, LakeDatabase, held_reader
from binance_lake.storage.schema import check_readable

EXCHANGE_INFO_RETRY = RetryPolicy(max_attempts=2, base_delay=0.2, max_rate_limited=0)
"""exchangeInfo only adds fields to `symbols`: two quick attempts (a 429 counts as one, however long its
Retry-After), then the refresh goes on without it."""


def _filters(
    markets: Names,
    market: str | None,
    datasets: Names,
    dataset: str | None,
    intervals: Names = None,
    interval: str | None = None,
    symbol: str | None = None,
) -> queries.Filters:
    """The series filters of a catalog call, each from its plural keyword or its old singular spelling."""
    return build_filters(
        renamed("markets", markets, "market", market, depth=1),
        renamed("datasets", datasets, "dataset", dataset, depth=1),
        renamed("intervals", intervals, "interval", interval, depth=1),
        symbol,
    )


def _own(frame: Any) -> Any:
    """A held answer the caller may change without changing the next caller's: Arrow tables are immutable;
    pandas and polars frames are copied (cheap beside converting again; pandas copies on write)."""
    if isinstance(frame, pa.Table):
        return frame
    return frame.clone() if hasattr(frame, "clone") else frame.copy()


class LakeCatalog:
    """What the archive holds, per file and per day (`Lake(...).catalog`)."""

    def __init__(self, settings: Settings, database: LakeDatabase) -> None:
        self._settings = settings
        self._database = database
        # Held between queries, by every LakeCatalog of this process, and reopened when the file changed
        # (storage.database.HeldReader): opening the database costs ~15 ms, a snapshot about 1 ms.
        self._reader = held_reader(database)

    def _prepare(self) -> None:
        """The catalog tables of an existing lake, brought up to date first when the lake can be written; a
        read-only lake is read as it is (reading needs no write access)."""
        require_lake(self._database)
        if self._database.writable():
            ensure_catalog(self._database)

    def _checked(self, connection: Connection) -> Connection:
        if self._reader.checked is not connection:
            check_readable(connection)
            self._reader.checked = connection
        return connection

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read-only connection to the catalog of an existing lake (see `_prepare`)."""
        self._prepare()
        with self._reader.connection() as connection:
            yield self._checked(connection)

    def _query(self, fn: Callable[..., pa.Table], *args: Hashable, as_: Frame = "arrow") -> Any:
        """`fn(connection, *args)` as an `as_` frame, answered from the held reader's results while the
        database is unchanged (`HeldReader.cached`): a repeated call costs a few stats and a copy of the frame,
        not a query and a conversion."""
        self._prepare()
        frame = self._reader.cached((fn, *args, as_), lambda c: convert(fn(self._checked(c), *args), as_))
        return _own(frame)

    def refresh(
        self,
        *,
        markets: str | Iterable[str] | None = None,
        datasets: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        intervals: str | Iterable[str] | None = None,
        concurrency: int = 32,
        progress: ProgressSink | None = None,
        exchange_info: bool = True,
    ) -> RefreshReport:
        """List the archive (the chosen part of it) and record new, changed and gone files; with
        `exchange_info`, also the exchange's symbols (status, contract type) when its REST API answers.
        `progress` receives `ProgressEvent`s of phase "listing"."""
        selection = build_selection(
            self._settings, markets=markets, datasets=datasets, symbols=symbols, intervals=intervals
        )

        def work(clients: Clients) -> Awaitable[RefreshReport]:
            return refresh(
                clients.archive,
                self._database,
                selection,
                archive_url=self._settings.archive_url,
                concurrency=concurrency,
                progress=progress,
                exchange=clients.rest if exchange_info else None,
            )

        return run_online(self._settings, work, concurrency=concurrency, rest_retry=EXCHANGE_INFO_RETRY)

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
        progress: ProgressSink | None = None,
    ) -> ProbeReport:
        """HEAD the daily files expected for `date` (default: yesterday, UTC) and the days before it.

        `markets`, `datasets`, `intervals`: one name, several, or None for all (`market=`, `dataset=`,
        `interval=` are the old spellings, kept for one release). `progress` receives `ProgressEvent`s of
        phase "probing" (`on_progress(done, total)` is the old spelling, kept for one release)."""
        if on_progress is not None:
            warnings.warn(
                "the keyword on_progress= is now progress= (a callable taking a ProgressEvent; "
                "the old spelling goes in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
            progress = from_done_total(on_progress)
        check_days_back(days_back)
        last_day = probe_last_day(date)
        filters = _filters(markets, market, datasets, dataset, intervals, interval)

        def work(clients: Clients) -> Awaitable[ProbeReport]:
            return probe(
                clients.archive,
                self._database,
                last_day=last_day,
                days_back=days_back,
                filters=filters,
                concurrency=concurrency,
                progress=progress,
            )

        return run_online(self._settings, work, concurrency=concurrency)

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
        filters = _filters(markets, market, datasets, dataset, intervals, interval)
        return self._query(queries.snapshot, as_day(date), filters, as_=as_)

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
        filters = _filters(markets, market, datasets, dataset, intervals, interval, symbol)
        wanted = normalize_symbol(symbol)
        chosen = (filters.market,) if isinstance(filters.market, str) else filters.market or ()
        market = chosen[0] if len(chosen) == 1 else None
        frame, known = self._timeline(filters, wanted, market, as_)
        if not known:
            where = f"the {market} archive" if market else "the archive"
            hint = f" --markets {market}" if market else ""
            raise UsageError(
                f"unknown symbol {wanted}: not in {where} (check the spelling, or run "
                f"`binance-lake catalog symbols{hint}`)"
            )
        return _own(frame)

    def _timeline(
        self, filters: queries.Filters, wanted: str, market: str | None, as_: Frame
    ) -> tuple[Any, bool]:
        """The timelines frame of `filters` and whether the symbol is known (found, or listed at all), held
        like `_query`'s answers."""

        def compute(connection: Connection) -> tuple[Any, bool]:
            found = queries.timeline(self._checked(connection), filters)
            known = bool(found) or queries.known_symbol(connection, wanted, market)
            return convert(queries.timelines_table(found), as_), known

        self._prepare()
        return self._reader.cached(("timeline", filters, wanted, market, as_), compute)

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
        first, last = day_span(start, end)
        filters = _filters(markets, market, datasets, dataset)
        return self._query(queries.date_range, first, last, filters, as_=as_)

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
        filters = _filters(markets, market, datasets, dataset)
        return self._query(queries.earliest, filters, as_=as_)

    def synchronal(self, *, dataset: str = "klines", as_: Frame = "pandas") -> Any:
        """Base assets with a spot USDT pair and perpetuals in both um and cm (in one `dataset`)."""
        return self._query(queries.synchronal, get_dataset(dataset).name, as_=as_)

    def symbols(self, *, markets: Names = None, as_: Frame = "pandas", market: str | None = None) -> Any:
        """Every symbol the archive holds, delisted ones included, with a delisted flag."""
        chosen = build_filters(renamed("markets", markets, "market", market), None, None).market
        return self._query(queries.symbols, chosen, as_=as_)

    def reports(self, out: str | Path, *, markets: Names = None) -> list[ReportFile]:
        """Write seed 001's availability reports (`<market>_earliest_dates.csv`, `spot_um_usdt_filtered.csv`,
        `spot_synchronal.csv`, `consolidated_base_symbols.csv`) into the directory `out`, for `markets` (spot,
        um, cm; default all three); see `binance_lake.catalog.reports`."""
        chosen = build_filters(markets, None, None).market or tuple(m.value for m in REPORT_MARKETS)
        wanted = [m for m in REPORT_MARKETS if m.value in chosen]
        if len(wanted) != len(chosen):
            raise UsageError("the reports cover the markets spot, um and cm; leave the others out")
        with self._reading() as connection:
            reports = build_reports(connection, wanted)
        return write_reports(reports, Path(out).expanduser())
