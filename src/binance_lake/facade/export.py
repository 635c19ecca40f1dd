"""`Lake`'s exporters: `export_qlib` and `export_csv`, each a few lines over `binance_lake.export`.

Each builds the export's request, hands the exporter an `OpenStream` over the lake's streaming read
(`load.stream.iter_batches`, symbols the lake never held left out rather than refused) and returns the
exporter's `ExportReport`. The exporters live in `export/`, a sibling of `load/` that may not import it, which
is why the stream is built here.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.progress import ProgressSink
from binance_lake.core.symbols import split_list
from binance_lake.core.timerange import DateLike, TimeRange
from binance_lake.core.vocabulary import Interval, Market, parse_market
from binance_lake.export.csv import CsvRequest, export_csv
from binance_lake.export.qlib import QlibRequest, default_prefix, export_qlib
from binance_lake.export.qlib_format import parse_freq
from binance_lake.export.sink import ExportReport, RowStream, SeriesAsk
from binance_lake.export.symbols import held_symbols
from binance_lake.facade.base import LakeBase
from binance_lake.facade.existing import require_lake
from binance_lake.load.missing import Missing
from binance_lake.load.request import (
    build_request,
    parse_interval_for,
    parse_market_for,
    parse_range,
    parse_symbols,
)
from binance_lake.load.stream import Batches, iter_batches

# Symbols an export's stream reads ahead (`SymbolStream.tables`) on `READERS` threads: the partition decodes
# (Arrow releases the GIL) overlap each other and the exporter's own work. Memory: that many symbols' rows.
READ_AHEAD = 3
READERS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _readers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="export-read")
        return _pool


@dataclass(frozen=True)
class SymbolStream:
    """`load.stream.Batches` as the exporters read it (`export.sink.RowStream`), plus `tables()`: each
    symbol's rows as one table, `READ_AHEAD` symbols read ahead in parallel, in symbol order."""

    batches: Batches

    @property
    def schema(self) -> pa.Schema:
        return self.batches.schema

    @property
    def missing(self) -> Missing:
        return self.batches.missing

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.batches)

    def tables(self) -> Iterator[tuple[str, pa.Table]]:
        planned = self.batches.planned
        symbols = [s for s in sorted(planned.files) if planned.files[s]]

        pending: collections.deque[tuple[str, Future[pa.Table]]] = collections.deque()
        queued = iter(symbols)
        pool = _readers()

        def submit() -> None:
            symbol = next(queued, None)
            if symbol is not None:
                pending.append((symbol, pool.submit(self.batches.symbol_table, symbol)))

        try:
            for _ in range(READ_AHEAD):
                submit()
            while pending:
                symbol, future = pending.popleft()
                table = future.result()
                submit()
                if table.num_rows:
                    yield symbol, table
        finally:
            for _, future in pending:
                future.cancel()


class ExportMethods(LakeBase):
    """The lake's exporters (see the module docstring)."""

    def open_stream(self, ask: SeriesAsk) -> RowStream:
        """The rows of one `SeriesAsk`, streamed (`load.stream.iter_batches`)."""
        request = build_request(
            ask.dataset,
            ask.symbols,
            ask.start,
            ask.end,
            market=ask.market,
            interval=ask.interval,
            columns=ask.columns,
        )
        return SymbolStream(iter_batches(self.root, request, require=False))

    def export_qlib(
        self,
        *,
        freq: str,
        out: str | Path,
        start: DateLike,
        end: DateLike | None = None,
        symbols: str | Iterable[str] | None = None,
        include_delisted: bool = False,
        market: str = "um",
        prefix: str | None = None,
        from_1min: bool = False,
        from_1h: bool = False,
        progress: ProgressSink | None = None,
    ) -> ExportReport:
        """Write (or update in place) a Qlib dataset of klines at `freq` (`1min`, `60min`, `day`) under `out`
        (see `binance_lake.export.qlib`). `symbols` None means every symbol the lake holds in the range,
        delisted ones only with `include_delisted`; `prefix` defaults to `binance_<market>.`; `from_1min`
        builds 60min and day bars from 1m, `from_1h` day bars from 1h. `progress` receives `ProgressEvent`s
        of phase "export" (symbols done of total, rows), as `Lake.sync(progress=...)` does for its phases."""
        require_lake(self.database)
        chosen = parse_freq(freq)
        chosen_market = parse_market(market)
        source = Interval.M1 if from_1min else Interval.H1 if from_1h else chosen.interval
        time_range = parse_range(start, end)
        names = self._symbols(symbols, chosen_market, "klines", source, time_range, include_delisted)
        request = QlibRequest(
            freq=chosen,
            market=chosen_market,
            symbols=names,
            range=time_range,
            out=Path(out).expanduser(),
            prefix=default_prefix(chosen_market) if prefix is None else prefix,
            from_1min=from_1min,
            from_1h=from_1h,
        )
        return export_qlib(self.root, request, self.open_stream, progress=progress)

    def export_csv(
        self,
        *,
        out: str | Path,
        start: DateLike,
        end: DateLike | None = None,
        datasets: str | Iterable[str] = ("klines",),
        intervals: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        include_delisted: bool = False,
        market: str = "um",
        per_file: bool = False,
        iso: bool = False,
        progress: ProgressSink | None = None,
    ) -> ExportReport:
        """Write the lake's rows as CSV in the archive's layout and column names under `out` (see
        `binance_lake.export.csv`): one file per partition, or per archive daily file with `per_file`;
        epoch times as the archive writes them, or ISO 8601 with `iso`. `progress` receives phase "export"
        events (one series per symbol of each dataset and interval, rows)."""
        require_lake(self.database)
        chosen_market = parse_market(market)
        time_range = parse_range(start, end)
        wanted = split_list(datasets) if isinstance(datasets, str) else list(datasets)
        chosen_intervals = (
            [None]
            if intervals is None
            else split_list(intervals)
            if isinstance(intervals, str)
            else list(intervals)
        )
        series = []
        for name in wanted:
            spec = get_dataset(name)
            parse_market_for(spec, chosen_market)
            for interval in chosen_intervals if spec.has_interval else [None]:
                if spec.has_interval and interval is None:
                    raise UsageError(f"{name} needs --intervals, e.g. --intervals 1h")
                series.append((spec, parse_interval_for(spec, chosen_market, interval)))
        if not series:
            raise UsageError("no datasets given; name at least one, e.g. --datasets klines")
        first_spec, first_interval = series[0]
        # --all: the symbols held for the first series asked.
        names = self._symbols(
            symbols, chosen_market, first_spec.name, first_interval, time_range, include_delisted
        )
        request = CsvRequest(
            market=chosen_market,
            series=tuple(series),
            symbols=names,
            range=time_range,
            out=Path(out).expanduser(),
            per_file=per_file,
            iso=iso,
        )
        return export_csv(request, self.open_stream, progress=progress)

    def _symbols(
        self,
        symbols: str | Iterable[str] | None,
        market: Market,
        dataset: str,
        interval: Interval | None,
        time_range: TimeRange,
        include_delisted: bool,
    ) -> tuple[str, ...]:
        """The named symbols (`@set`s expanded), or with None the lake's held ones (`export.symbols`)."""
        if symbols is not None:
            text = symbols if isinstance(symbols, str) else ",".join(symbols)
            return parse_symbols(self.settings.expand_symbols(text))
        return held_symbols(
            self.root,
            market,
            dataset,
            interval,
            time_range.first_day,
            time_range.last_day,
            include_delisted=include_delisted,
        )
