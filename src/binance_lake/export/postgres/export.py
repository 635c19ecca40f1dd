"""The PostgreSQL export: which series to copy, from where, through the sink; what was done.

    request = build_export_request(dsn, market="um", datasets=["klines"], intervals=["1h"], start="2024-01-01")
    report = export_postgres(root, request, open_stream=…, day_sources=…)   # what Lake.export_postgres does

For each table (export/postgres/tables.py) and timeframe, the series the lake holds (or the asked symbols)
are compared with `data_versions` (export/postgres/versions.py): a series whose lake partitions are the ones
already copied is skipped without reading a row; otherwise it is copied from its first changed partition
(or from the watermark of an interrupted export) to its last partition, streamed with
`load.stream.iter_batches` (memory bounded by a partition; the facade passes the stream in, as export/ and
load/ are sibling layers) and written one batch a transaction by `PostgresSink.merge`, each series' run
replacing its time range from where the previous batch stopped. Symbols resuming from the same point share
one stream, so a first export and a daily append each read every series in one pass and commit a few
transactions, not a few per series. The `source` column comes from the lake's `day_provenance`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from binance_lake.core.choices import as_list
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.core.timerange import DateLike, TimeRange, day_start, next_month, resolve_range
from binance_lake.core.vocabulary import Market, parse_interval
from binance_lake.export.postgres import ddl, versions
from binance_lake.export.postgres.sink import TIMESCALE_MODES, PostgresSink, Span, TimescaleMode
from binance_lake.export.postgres.tables import SOURCE_CODES, PgTable, tables_for

# Rows per batch unless asked otherwise: load.stream's default (a few MB of klines, a COPY round trip).
DEFAULT_BATCH_ROWS = 64 * 1024


class RowStream(Protocol):
    """One planned read of the lake (what `load.stream.iter_batches` returns, seen from here): the
    partition files per symbol, what the lake lacks (a sentence, or ""), and the record batches —
    `symbol` then the asked lake columns, in (symbol, time) order."""

    @property
    def files(self) -> Mapping[str, Sequence[Path]]: ...

    @property
    def missing(self) -> str: ...

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...


# How the export reads the lake, given by the layer above (export/ and load/ are siblings): open a stream of
# a table's lake columns for some symbols of one interval over a range; the held days' sources.
StreamOpener = Callable[[PgTable, str | None, Sequence[str], TimeRange, int], RowStream]
DaySources = Callable[[PgTable, str | None, Sequence[str], TimeRange], Sequence[tuple[str, dt.date, str]]]

# "Everything the lake holds" when no --start is given: Binance's archive starts in 2017.
EARLIEST = dt.date(2017, 1, 1)
DAY_US = 86_400_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class PostgresExportRequest:
    """One export, validated (`build_export_request`)."""

    dsn: str
    market: Market
    tables: tuple[PgTable, ...]
    intervals: tuple[str, ...] | None  # None: every interval the lake holds
    symbols: tuple[str, ...] | None  # None: every symbol the lake holds
    range: TimeRange
    schema: str = "public"
    timescale: TimescaleMode = "auto"
    batch_rows: int = DEFAULT_BATCH_ROWS


def build_export_request(
    dsn: str,
    *,
    market: str = "um",
    datasets: Iterable[str] | str | None = None,
    intervals: Iterable[str] | str | None = None,
    symbols: Iterable[str] | str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    schema: str = "public",
    timescale: str = "auto",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> PostgresExportRequest:
    """Check every argument once; the first problem is a `UsageError`."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise UsageError("--dsn must name a PostgreSQL database, e.g. postgresql://user@host:5432/db")
    if timescale not in TIMESCALE_MODES:
        raise UsageError(f"--timescale must be auto, on or off, not {timescale!r}")
    if not schema or not schema.replace("_", "a").isalnum():
        raise UsageError(f"--schema must be a plain name (letters, digits, _), not {schema!r}")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise UsageError(f"batch_rows must be a positive number of rows, not {batch_rows!r}")
    chosen_market = Market(market) if market in {m.value for m in Market} else None
    if chosen_market is None:
        raise UsageError(f"--market must be one of {', '.join(m.value for m in Market)}, not {market!r}")
    if datasets is None:  # every table whose dataset the market has (spot: only ohlcv)
        tables = tuple(t for t in tables_for(None) if chosen_market in get_dataset(t.dataset).markets)
    else:
        tables = tables_for(tuple(as_list(datasets)))
        for table in tables:
            get_dataset(table.dataset).layout(chosen_market)  # e.g. no fundingRate in spot: a UsageError
    return PostgresExportRequest(
        dsn=dsn,
        market=chosen_market,
        tables=tables,
        intervals=tuple(parse_interval(i).value for i in as_list(intervals))
        if intervals is not None
        else None,
        symbols=tuple(s.upper() for s in as_list(symbols)) if symbols is not None else None,
        range=resolve_range(start if start is not None else EARLIEST, end),
        schema=schema,
        timescale=timescale,  # checked above
        batch_rows=batch_rows,
    )


@dataclass
class TableReport:
    """What one table (and timeframe) got."""

    table: str
    timeframe: str | None
    series: int = 0  # series considered
    exported: int = 0  # series copied (some or all of their rows)
    rows: int = 0


@dataclass
class PostgresExportReport:
    """The outcome of `export_postgres`: per table, series copied or already up to date, rows, and the
    days the lake lacked of the asked range."""

    schema: str
    timescale: bool
    tables: list[TableReport] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def up_to_date(self) -> int:
        return sum(t.series - t.exported for t in self.tables)


def held_series(root: Path, dataset: str, market: Market) -> dict[str | None, set[str]]:
    """The symbols the lake holds partitions of, by interval (None for datasets without one)."""
    base = root / TABLES_DIR / dataset / f"market={market.value}"
    if not base.is_dir():
        return {}
    if get_dataset(dataset).has_interval:
        found: dict[str | None, set[str]] = {}
        for sub in base.glob("interval=*"):
            symbols = _symbols_in(sub)
            if symbols:
                found[sub.name.removeprefix("interval=")] = symbols
        return found
    symbols = _symbols_in(base)
    return {None: symbols} if symbols else {}


def _symbols_in(directory: Path) -> set[str]:
    return {d.name.removeprefix("symbol=") for d in directory.glob("symbol=*") if any(d.glob("*.parquet"))}


def _us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class FileSpan:
    """A lake partition file and the part of the asked range it holds."""

    name: str
    fingerprint: str
    lo: int
    hi: int


def file_spans(paths: Iterable[Path], span: TimeRange) -> list[FileSpan]:
    """Partition files (one series, time order) with their fingerprints and their part of `span` in µs;
    a file that vanished since the plan is left out (the next export sees what replaced it)."""
    lo, hi = _us(span.start), _us(span.end)
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        if len(path.stem) == len("YYYY-MM-DD"):  # a tick-like dataset's day
            first = dt.date.fromisoformat(path.stem)
            after = first + dt.timedelta(days=1)
        else:  # a bar-like dataset's month
            first = dt.date.fromisoformat(path.stem + "-01")
            after = next_month(first)
        start, end = _us(day_start(first)), _us(day_start(after))
        out.append(FileSpan(path.name, f"{stat.st_size}:{stat.st_mtime_ns}", max(lo, start), min(hi, end)))
    return [f for f in out if f.lo < f.hi]


def resume_point(files: list[FileSpan], version: versions.Version | None) -> int | None:
    """Where a series' export starts (µs), or None when PostgreSQL already has every file's rows."""
    for f in files:
        entry = version.partitions.get(f.name) if version else None
        if entry is not None and entry[0] == f.fingerprint and entry[1] <= f.lo and entry[2] >= f.hi:
            continue
        if (
            version is not None
            and version.pending == (f.name, f.fingerprint)
            and version.watermark_us is not None
            and f.lo < version.watermark_us < f.hi
        ):
            return version.watermark_us
        return f.lo
    return None


def symbol_runs(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The batch cut into its runs of one symbol (batches are in (symbol, time) order)."""
    symbols = batch.column(0)
    first, last = symbols[0].as_py(), symbols[-1].as_py()
    if first == last:  # sorted: most batches hold one symbol
        yield str(first), batch
        return
    values = symbols.to_numpy(zero_copy_only=False)
    cuts = [0, *(np.flatnonzero(values[1:] != values[:-1]) + 1).tolist(), len(values)]
    for start, end in itertools.pairwise(cuts):
        yield str(values[start]), batch.slice(start, end - start)


@dataclass
class _Series:
    """One series' export in progress."""

    symbol: str
    files: list[FileSpan]
    lo: int  # the next merge replaces from here
    days: npt.NDArray[np.int64]  # held days (days since the epoch), sorted
    codes: npt.NDArray[np.int16]  # their source codes


class _TableExport:
    """One (table, timeframe): plan against data_versions, then stream and merge."""

    def __init__(
        self,
        request: PostgresExportRequest,
        sink: PostgresSink,
        table: PgTable,
        interval: str | None,
        symbols: list[str],
        started: dt.datetime,
        open_stream: StreamOpener,
        day_sources: DaySources,
        counter: Progress,
    ) -> None:
        self.counter = counter
        self.request, self.sink, self.table = request, sink, table
        self.open_stream, self.day_sources = open_stream, day_sources
        self.interval, self.started, self.symbols = interval, started, symbols
        self.timeframe = interval if table.has_timeframe else None
        self.report = TableReport(table.name, self.timeframe, series=len(symbols))
        self.missing = ""
        self.provenance: dict[str, Counter[str]] = {}
        self.written: tuple[int, int] | None = None  # µs span of rows replaced, for the view refresh

    def run(self) -> None:
        planned = self.open_stream(
            self.table, self.interval, self.symbols, self.request.range, self.request.batch_rows
        )
        self.missing = planned.missing
        stored = versions.read(self.sink, self.table, self.timeframe)
        groups: dict[int, list[tuple[str, list[FileSpan]]]] = {}
        for symbol in sorted(planned.files):
            files = file_spans(planned.files[symbol], self.request.range)
            start = resume_point(files, stored.get(symbol))
            if start is not None:
                groups.setdefault(start, []).append((symbol, files))
        self.counter.expect(len(self.symbols))
        copying = sum(len(group) for group in groups.values())
        self.counter.add(done=len(self.symbols) - copying)  # up to date, or no partition in the range
        if not groups:
            return
        days = self._held_days([s for group in groups.values() for s, _ in group])
        for start, members in sorted(groups.items()):
            self._copy(start, members, days)

    def _held_days(
        self, symbols: list[str]
    ) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int16]]]:
        rows = self.day_sources(self.table, self.interval, symbols, self.request.range)
        by_symbol: dict[str, list[tuple[int, int]]] = {}
        for symbol, day, source in rows:
            by_symbol.setdefault(symbol, []).append(((day - EPOCH.date()).days, SOURCE_CODES.get(source, 0)))
            self.provenance.setdefault(symbol, Counter())[source] += 1
        return {
            s: (np.array([d for d, _ in v], np.int64), np.array([c for _, c in v], np.int16))
            for s, v in by_symbol.items()
        }

    def _copy(
        self,
        start: int,
        members: list[tuple[str, list[FileSpan]]],
        days: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int16]]],
    ) -> None:
        empty = (np.array([], np.int64), np.array([], np.int16))
        series = {s: _Series(s, f, start, *days.get(s, empty)) for s, f in members}
        span = TimeRange(_moment(start), self.request.range.end)
        names = ["symbol", *self.table.lake_columns]
        stream = self.open_stream(self.table, self.interval, sorted(series), span, self.request.batch_rows)
        for batch in stream:
            self._merge(series, batch.select(names))
        self._finish(list(series.values()))
        self.report.exported += len(series)
        self.counter.add(done=len(series))

    def _merge(self, series: dict[str, _Series], batch: pa.RecordBatch) -> None:
        """One batch, one transaction: each series' run replaces its range from where the last stopped."""
        spans: list[Span] = []
        owners: list[npt.NDArray[np.int32]] = []
        sources: list[npt.NDArray[np.int16]] = []
        notes: list[tuple[str, Sequence[object]]] = []
        for n, (symbol, run) in enumerate(symbol_runs(batch), start=1):
            one = series[symbol]
            times = run.column(1).cast(pa.int64()).to_numpy()
            hi = int(times[-1]) + 1
            spans.append(Span(symbol, one.lo, hi))
            owners.append(np.full(run.num_rows, n, np.int32))
            sources.append(self._sources(one, times))
            # A batch can end inside a partition (it continues in the next batch): that one is pending.
            pending = next(((f.name, f.fingerprint) for f in one.files if f.lo < hi < f.hi), None)
            done = {f.name: (f.fingerprint, f.lo, f.hi) for f in one.files if f.hi <= hi}
            notes.append(self._progress(one, hi, done, pending, run.num_rows))
            self._wrote(one.lo, hi)
            one.lo = hi
        rows = batch.drop_columns(["symbol"])
        written = self.sink.merge(
            self.table,
            self.timeframe,
            spans,
            rows,
            np.concatenate(owners),
            np.concatenate(sources),
            _grouped(notes),
        )
        self.report.rows += written
        self.counter.add(rows=written)

    def _progress(
        self,
        one: _Series,
        watermark: int,
        done: Mapping[str, versions.Entry],
        pending: tuple[str, str] | None,
        rows: int,
    ) -> tuple[str, Sequence[object]]:
        return versions.progress(
            self.sink,
            self.table,
            self.timeframe,
            one.symbol,
            market=self.request.market.value,
            watermark_us=watermark,
            done=done,
            pending=pending,
            rows=rows,
            run_started=self.started,
        )

    def _sources(self, one: _Series, times: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
        if len(one.days) == 0:
            return np.zeros(len(times), np.int16)
        row_days = times // DAY_US
        at = np.minimum(np.searchsorted(one.days, row_days), len(one.days) - 1)
        return np.where(one.days[at] == row_days, one.codes[at], 0).astype(np.int16)

    def _finish(self, finished: list[_Series]) -> None:
        """One transaction for the streamed series: replace up to the end of each one's last held day (rows
        of a held day the lake no longer has go, e.g. the tail of a provisional day the archive replaced with
        fewer rows; rows after it, which a stream collector may have written, stay), mark every partition
        complete, close their data_versions rows."""
        spans, notes = [], []
        at = dt.datetime.now(dt.UTC)
        for one in finished:
            files_end = max([one.lo, *(f.hi for f in one.files)])
            held_end = (int(one.days[-1]) + 1) * DAY_US if len(one.days) else one.lo
            end = max(one.lo, min(files_end, held_end))
            if one.lo < end:
                spans.append(Span(one.symbol, one.lo, end))
                self._wrote(one.lo, end)
            done = {f.name: (f.fingerprint, f.lo, f.hi) for f in one.files}
            notes.append(self._progress(one, files_end, done, None, 0))
            provenance = self.provenance.get(one.symbol, Counter())
            notes.append(
                versions.finished(
                    self.sink, self.table, self.timeframe, one.symbol, provenance=provenance, finished_at=at
                )
            )
        self.sink.merge(self.table, self.timeframe, spans, then=_grouped(notes))

    def _wrote(self, lo: int, hi: int) -> None:
        self.written = _union(self.written, (lo, hi))


def _grouped(notes: Iterable[tuple[str, Sequence[object]]]) -> list[tuple[str, list[Sequence[object]]]]:
    """Statements with their parameter rows, one entry per distinct statement in first-seen order (for
    executemany); the order between two statements is kept because every series' progress precedes its
    closing."""
    grouped: dict[str, list[Sequence[object]]] = {}
    for statement, params in notes:
        grouped.setdefault(statement, []).append(params)
    return list(grouped.items())


def _union(a: tuple[int, int] | None, b: tuple[int, int]) -> tuple[int, int]:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def _moment(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def export_postgres(
    root: Path,
    request: PostgresExportRequest,
    *,
    open_stream: StreamOpener,
    day_sources: DaySources,
    clock: Callable[[], float] = time.monotonic,
    progress: ProgressSink | None = None,
) -> PostgresExportReport:
    """Copy the asked series of the lake at `root` into PostgreSQL (see the module docstring), reading
    rows through `open_stream` and the days' sources through `day_sources`. `progress` receives phase
    "export" events: the series of each table (done when copied or found up to date) and rows merged."""
    began = clock()
    counter = Progress(Phase.EXPORT, progress)
    with PostgresSink.open(request.dsn, schema=request.schema, timescale=request.timescale) as sink:
        held_markets = versions.markets(sink) - {request.market.value}
        if held_markets:
            raise UsageError(
                f"the schema {request.schema} holds {', '.join(sorted(held_markets))} rows; export market "
                f"{request.market.value} to another --schema (symbols of two markets would collide)"
            )
        report = PostgresExportReport(request.schema, sink.timescale)
        started = dt.datetime.now(dt.UTC)
        refresh: tuple[int, int] | None = None
        for table in request.tables:
            for interval, symbols in sorted(
                held_series(root, table.dataset, request.market).items(), key=str
            ):
                if (
                    interval is not None
                    and request.intervals is not None
                    and interval not in request.intervals
                ):
                    continue
                chosen = sorted(symbols if request.symbols is None else symbols & set(request.symbols))
                if not chosen:
                    continue
                one = _TableExport(
                    request, sink, table, interval, chosen, started, open_stream, day_sources, counter
                )
                one.run()
                report.tables.append(one.report)
                if one.missing:
                    report.missing.append(
                        f"{table.dataset} {interval or ''}: {one.missing}".replace("  ", " ")
                    )
                if one.written is not None and table.name in ddl.OI_SOURCES:
                    refresh = _union(refresh, one.written)
        if not report.tables:
            raise UsageError(_nothing_held(request))
        if refresh is not None:
            sink.refresh_views((_moment(refresh[0]), _moment(refresh[1])))
    report.seconds = clock() - began
    return report


def _nothing_held(request: PostgresExportRequest) -> str:
    datasets = ",".join(sorted({t.dataset for t in request.tables}))
    symbols = ",".join(request.symbols) if request.symbols else "any symbol"
    return (
        f"the lake holds no {datasets} of market {request.market.value} for {symbols}"
        + (f" at intervals {','.join(request.intervals)}" if request.intervals else "")
        + f"; fetch it first: binance-lake sync --market {request.market.value} --datasets {datasets} …"
    )
