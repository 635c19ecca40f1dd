"""Running a sync from synchronous code: the clients for the settings, the writer lock (a dry run writes
nothing and takes none), and the engine's `run_sync` under the stall rule; `SyncMethods` is `Lake.sync`."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Iterable

from binance_lake.binance.clients import Clients
from binance_lake.core.progress import ProgressSink, listing_apart
from binance_lake.core.settings import Settings
from binance_lake.core.symbols import ccxt_named
from binance_lake.core.timerange import DateLike
from binance_lake.engine.cluster.run import require_distributed
from binance_lake.engine.cluster.spec import parse_cluster
from binance_lake.engine.plan import SyncMode
from binance_lake.engine.sync import SyncOptions, SyncReport, SyncRequest, run_sync
from binance_lake.engine.sync_request import build_sync_request
from binance_lake.facade.keywords import warn_renamed
from binance_lake.facade.loop import run_online
from binance_lake.facade.symbols import SymbolMethods
from binance_lake.storage.database import LakeDatabase, WriterLock


def run_sync_stage(
    settings: Settings, database: LakeDatabase, request: SyncRequest, options: SyncOptions
) -> SyncReport:
    """Mirror the (validated) request into the lake at `database`; only one process syncs a lake at a time
    (`LakeLocked` otherwise)."""

    def work(clients: Clients) -> Awaitable[SyncReport]:
        return run_sync(
            request,
            client=clients.archive,
            database=database,
            archive_url=settings.archive_url,
            options=options,
        )

    if options.dry_run:
        return run_online(settings, work, concurrency=options.concurrency)
    with WriterLock(database.root):
        return run_online(settings, work, concurrency=options.concurrency)


class SyncMethods(SymbolMethods):
    """`Lake.sync`: mirror archive files into the lake."""

    def sync(
        self,
        *,
        market: str | None = None,
        datasets: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        intervals: str | Iterable[str] | None = None,
        start: DateLike,
        end: DateLike | None = None,
        include_delisted: bool = False,
        dry_run: bool = False,
        refresh: bool = True,
        concurrency: int = 16,
        keep_raw: bool = True,
        progress: ProgressSink | None = None,
        refresh_progress: ProgressSink | None = None,
        refresh_catalog: bool | None = None,
        retry_quarantined: bool = False,
        rebuild: bool = False,
        from_scratch: bool = False,
        repair: bool = False,
        cluster: str | None = None,
        cluster_window: int | None = None,
    ) -> SyncReport:
        """Mirror archive files into the lake: resumable, checksum-verified, parallel.

        `market`, `datasets` and `intervals` left out are the settings' defaults (um, klines, none; the
        `[defaults]` of binance-lake.toml). `symbols` None means every symbol of the market that traded on any
        day of the range, delisted since or not (`--all`); an empty list is a `UsageError`; `include_delisted`
        adds the `…SETTLED` settlement series. `@name` entries expand to the named sets of binance-lake.toml,
        `@file:PATH` to a file's symbols, `@top:N` to the N of highest 30-day quote volume up to `end`
        (`Lake.top_symbols`); ccxt names (`BTC/USDT:USDT`) map to Binance's. Dates are whole UTC days, both
        included; `end` defaults to today. `refresh` lists the chosen prefixes first (`refresh_catalog=` is its
        old spelling, kept for one release). Only one process may sync a lake at a time (`LakeLocked`
        otherwise). `dry_run` plans from the catalog as it is, lists and writes nothing, and reports the
        requested days the catalog never listed (`SyncReport.unlisted`).
        Quarantined files are fetched again when upstream changes them, or always with `retry_quarantined`.
        `rebuild` re-ingests the held files of the request from their kept raw zips and lists and downloads
        nothing; `from_scratch` ignores the recorded progress of the request and plans every file again
        (`engine.plan.SyncMode`).
        `repair` reads every held partition of the request whole and rebuilds exactly the damaged ones
        (`check` names them).
        `cluster` (`tcp://HOST:PORT` of a Dask scheduler, or `local:N` worker processes here; the extra
        `cluster`) fans the plan's work items (a month's files of one series, or one tick file) out to Dask
        workers that download, verify and ingest into this root, which every worker must see at the same
        path; this process plans and records. `cluster_window` bounds the items in flight (default 32 a
        worker thread: two tasks of up to 16 neighbouring items each).
        With requests outstanding and no answer for `settings.stall_timeout` seconds, it raises `Stalled`
        (the state is recorded; the same call resumes). `progress` receives `ProgressEvent`s: the refresh's
        (phase "listing"), then the downloads' (phase "sync"); `refresh_progress=` is the old spelling for a
        separate listing sink, kept for one release.
        """
        if refresh_progress is not None:
            warnings.warn(
                "the keyword refresh_progress= is deprecated: progress= receives the listing's events too "
                "(the old spelling goes in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
            progress = listing_apart(progress, refresh_progress)
        if refresh_catalog is not None:
            warn_renamed("refresh", "refresh_catalog", stacklevel=2)
            refresh = refresh_catalog
        if symbols is not None and not isinstance(symbols, str):
            symbols = list(symbols)  # read twice below: a generator would be empty the second time
        chosen_market = market or self.settings.default_market
        with ccxt_named(symbols, chosen_market):
            request = build_sync_request(
                self.settings,
                market=market,
                datasets=datasets,
                symbols=self._with_top(symbols, market, end),
                intervals=intervals,
                start=start,
                end=end,
                include_delisted=include_delisted,
            )
        options = SyncOptions(
            mode=SyncMode.of(rebuild=rebuild, from_scratch=from_scratch),
            refresh=refresh,
            dry_run=dry_run,
            concurrency=concurrency,
            keep_raw=keep_raw,
            retry_quarantined=retry_quarantined,
            progress=progress,
            repair=repair,
            cluster=None if cluster is None else parse_cluster(cluster, self.settings, window=cluster_window),
        )
        if options.cluster is not None and not dry_run:
            require_distributed()
        with ccxt_named(symbols, chosen_market):
            return run_sync_stage(self.settings, self.database, request, options)
