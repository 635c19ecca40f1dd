"""`Lake.update`: the lake reaches the last closed bar (archive first, then REST), under the writer lock, with
the clients of one online operation (`engine/update.py` does the work)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

import pyarrow as pa

from binance_lake.binance.clients import Clients
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.progress import ProgressSink
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import to_millis
from binance_lake.engine.rest_range import held_sources, plan_rest_range, run_rest_range
from binance_lake.engine.update import DEFAULT_DAYS_BACK, UpdateOptions, UpdateReport, run_update, server_now
from binance_lake.engine.update_request import build_update_request
from binance_lake.facade.loop import run_online
from binance_lake.facade.sync import SyncMethods
from binance_lake.load.request import LoadRequest
from binance_lake.storage.database import WriterLock


class UpdateMethods(SyncMethods):
    """`Lake.update`, and the REST side of `Lake.load(source="rest")`."""

    def _from_rest(self, request: LoadRequest) -> dict[SeriesKey, pa.Table]:
        """`source="rest"`: store from REST the days of the load the lake lacks, and fetch (without storing)
        the days it holds from the archive; the fetched rows per series (`engine/rest_range.py`)."""
        series = [SeriesKey(request.market, request.dataset, request.interval, s) for s in request.symbols]
        settings, database = self.settings, self.database
        start_ms, end_ms = to_millis(request.range.start), to_millis(request.range.end)
        held = held_sources(database, series, request.range.first_day, request.range.last_day)

        async def work(clients: Clients) -> dict[SeriesKey, pa.Table]:
            rest = MarketRestClient(clients.session, settings)
            now = await server_now(rest, request.market)
            plan = plan_rest_range(series, held, start_ms=start_ms, end_ms=end_ms, now_ms=to_millis(now))
            if plan.store:
                ensure_catalog(database)
            _, served = await run_rest_range(plan, rest, database)
            return served

        with WriterLock(database.root):
            return run_online(settings, work, concurrency=8)

    def update(
        self,
        *,
        market: str | None = None,
        datasets: str | Iterable[str] | None = None,
        intervals: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        days_back: int = DEFAULT_DAYS_BACK,
        fill_gaps: bool = False,
        max_gap_days: int | None = None,
        dry_run: bool = False,
        concurrency: int = 8,
        weight_share: float = 0.8,
        keep_raw: bool = True,
        progress: ProgressSink | None = None,
    ) -> UpdateReport:
        """Bring the chosen series (default: every series the lake holds) to the last closed bar.

        Syncs the archive for the last `days_back` days (and any provisional day), then fetches from REST
        every bar the archive does not have yet; those days are stored with provenance `rest` and replaced,
        with a reconciliation, once the archive publishes them. `fill_gaps` also fetches days missing inside
        each series' held range (at most `max_gap_days` a series). REST requests stay below `weight_share`
        of each host's weight limit. `dry_run` plans and writes nothing."""
        request = build_update_request(
            self.settings,
            market=market,
            datasets=datasets,
            intervals=intervals,
            symbols=symbols,
            days_back=days_back,
            fill_gaps=fill_gaps,
            max_gap_days=max_gap_days,
        )
        options = UpdateOptions(
            dry_run=dry_run,
            concurrency=concurrency,
            weight_share=weight_share,
            keep_raw=keep_raw,
            progress=progress,
        )
        settings, database = self.settings, self.database

        def work(clients: Clients) -> Awaitable[UpdateReport]:
            rest = MarketRestClient(
                clients.session, settings, share=options.weight_share, concurrency=options.concurrency
            )
            return run_update(
                request,
                archive=clients.archive,
                rest=rest,
                database=database,
                archive_url=settings.archive_url,
                options=options,
            )

        if dry_run:
            return run_online(settings, work, concurrency=concurrency)
        with WriterLock(database.root):
            return run_online(settings, work, concurrency=concurrency)
