"""The user's API: `Lake(root)` and its `catalog`. Synchronous methods over the async core.

    from binance_lake import Lake
    lake = Lake("~/data/binance-lake")
    lake.catalog.refresh(markets=["um"], datasets=["klines"], intervals=["1h"])
    lake.catalog.snapshot("2024-01-15", markets="um", datasets="klines", intervals="1h")

Settings are resolved once here (flag > environment > binance-lake.toml > default) and passed down. Methods
run their coroutine on a private event loop, so they also work inside Jupyter, whose loop is already running.

A facade: each method builds the stage's request, runs the stage and delivers the answer. `Lake.catalog` is
`facade.catalog.LakeCatalog`; the loop bridge, frames and old keyword spellings live in `binance_lake.facade`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from binance_lake.catalog.request import MAX_PROBE_DAYS, check_days_back
from binance_lake.core.progress import ProgressSink, listing_apart
from binance_lake.core.settings import Settings, check_root, resolve_settings
from binance_lake.core.timerange import DateLike
from binance_lake.engine.sync import SyncOptions, SyncReport
from binance_lake.engine.sync_request import build_sync_request
from binance_lake.facade.catalog import LakeCatalog
from binance_lake.facade.existing import no_lake as no_lake
from binance_lake.facade.existing import require_lake
from binance_lake.facade.fill import fill_aligned, fill_load
from binance_lake.facade.frames import Frame, convert
from binance_lake.facade.keywords import warn_renamed
from binance_lake.facade.loop import run_sync
from binance_lake.facade.sync import run_sync_stage
from binance_lake.load import aligned as load_aligned_
from binance_lake.load import status as load_status
from binance_lake.load import universe as load_universe_
from binance_lake.load import views as load_views
from binance_lake.load.missing import check_frame, deliver
from binance_lake.load.reader import load_table
from binance_lake.load.request import SymbolsArg, build_request
from binance_lake.load.resample import resample_table
from binance_lake.load.stream import DEFAULT_BATCH_ROWS, Batches, iter_batches
from binance_lake.storage.database import LakeDatabase

# Old import paths (`from binance_lake.lake import …`) kept working.
__all__ = ["MAX_PROBE_DAYS", "Frame", "Lake", "LakeCatalog", "check_days_back", "convert", "run_sync"]


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
        progress: ProgressSink | None = None,
        refresh_progress: ProgressSink | None = None,
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
        request = build_sync_request(
            self.settings,
            market=market,
            datasets=datasets,
            symbols=symbols,
            intervals=intervals,
            start=start,
            end=end,
            include_delisted=include_delisted,
        )
        options = SyncOptions(
            refresh=refresh,
            dry_run=dry_run,
            concurrency=concurrency,
            keep_raw=keep_raw,
            retry_quarantined=retry_quarantined,
            progress=progress,
        )
        return run_sync_stage(self.settings, self.database, request, options)

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
            fill_load(self.root, request, self.sync)
        loaded = load_table(self.root, request)
        return deliver(loaded.table, loaded.missing, as_)

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
            fill_aligned(self.root, symbols, start, end, interval=interval, market=market, sync=self.sync)
        loaded = load_aligned_.load_aligned(self.root, symbols, start, end, interval=interval, market=market)
        return deliver(loaded.table, loaded.missing, as_)

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
        require_lake(self.database)
        return convert(load_views.sql(self.root, query, unsafe=unsafe), as_)

    def status(self, *, as_: Frame = "pandas") -> Any:
        """Per dataset and symbol: days held, first/last day, ingested/failed/quarantined files, bytes."""
        check_frame(as_)
        require_lake(self.database)
        return convert(load_status.status(self.root), as_)

    def problems(self, *, as_: Frame = "pandas") -> Any:
        """Files whose last state is failed or quarantined, with attempts and error."""
        check_frame(as_)
        require_lake(self.database)
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
            fill_load(self.root, request, self.sync)
        return iter_batches(self.root, request, batch_rows=batch_rows)
