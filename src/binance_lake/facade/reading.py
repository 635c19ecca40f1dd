"""`Lake`'s readers: `load`, `load_universe`, `load_aligned`, `resample`, `iter_batches`, `sql`, `status` and
`problems`, each a few lines over `binance_lake.load`.

Every reader returns a pandas frame unless `as_` asks for "polars" or "arrow" (`iter_batches` streams Arrow
record batches). Frames carry what the lake lacked: `frame.attrs["missing"]` for pandas and polars, schema
metadata for Arrow, `binance_lake.load.missing_of(frame)` for all three. `fill=True` syncs the missing files
first and `source="auto"` updates, which is why the readers stand on `UpdateMethods` (a `SyncMethods`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from binance_lake.core.symbols import ccxt_named
from binance_lake.core.timerange import DateLike
from binance_lake.facade.existing import require_lake
from binance_lake.facade.fill import fill_aligned, fill_load
from binance_lake.facade.frames import Frame, convert
from binance_lake.facade.sources import check_source, only_source, update_for, with_served, with_sources
from binance_lake.facade.update import UpdateMethods
from binance_lake.load import aligned as load_aligned_
from binance_lake.load import status as load_status
from binance_lake.load import universe as load_universe_
from binance_lake.load import views as load_views
from binance_lake.load.missing import check_frame, deliver
from binance_lake.load.reader import load_table
from binance_lake.load.request import SymbolsArg, build_request
from binance_lake.load.resample import resample_table
from binance_lake.load.stream import DEFAULT_BATCH_ROWS, Batches, iter_batches


class ReadMethods(UpdateMethods):
    """The lake's readers (see the module docstring)."""

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
        source: str = "lake",
        with_source: bool = False,
    ) -> Any:
        """Rows of `symbols` in the range, with a `symbol` column, sorted by (symbol, time).

        Dates are whole UTC days (both included); timestamps are half-open `[start, end)`. Symbols the lake
        never held are a `UsageError` naming the sync command; days it lacks are listed in the frame's
        `missing`. With `fill=True` the missing files are synced first. `source` is "lake" (what it holds),
        "auto" (sync what it lacks, then update to the last closed bar from REST), "archive" (only archive
        days) or "rest" (from REST: the days the lake lacks are fetched and stored as provisional, the days it
        holds from the archive are fetched and returned without storing); `with_source` adds a `source` column: each row's day's
        provenance (see `facade/sources.py`).
        """
        symbols = self._with_top(symbols, market, end)  # type: ignore[assignment]
        with ccxt_named(symbols, market):  # "… (BTC/USD:BTC is BTCUSD_PERP on cm)" in a sentence naming it
            request = build_request(
                dataset, symbols, start, end, market=market, interval=interval, columns=columns
            )
            check_frame(as_)
            check_source(source)
            if fill or source in ("auto", "archive"):
                fill_load(self.root, request, self.sync)
            if source == "auto":
                update_for(request, self.update)
            served = self._from_rest(request) if source == "rest" else {}
            loaded = load_table(self.root, request)
        table = loaded.table
        if with_source or source in ("archive", "rest"):
            table = only_source(with_sources(self.root, request, table), source)
            table = with_served(table, request, served)
            if not with_source:
                table = table.drop_columns(["source"])
        return deliver(table, loaded.missing, as_)

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
