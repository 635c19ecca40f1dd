"""CSV beside Parquet (seed 000's human-readable half): `export_csv(root, request, open_stream)`.

The archive's layout and column names: one CSV per lake partition at the key the archive would give it, with
`.csv` for `.zip` — `data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.csv` for a month of bars,
`…/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.csv` for a day of ticks — or one per archive daily file
with `per_file` (a month of bars as its days). The header is always written (the archive's own names; the
dropped `ignore` column is not). Times are written as the archive writes them: epoch integers in its unit (ms,
or µs for spot from 2025) and `YYYY-MM-DD HH:MM:SS` text where the archive has text; with `iso`, every time is
ISO 8601 UTC (`2024-01-01T00:00:00.000Z`). Rows stream through one file at a time; each file is written
atomically.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import ColumnKind, DatasetSpec, Granularity
from binance_lake.core.errors import UsageError
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.core.timerange import TimeRange, month_start
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.export.out_lock import OutLock
from binance_lake.export.sink import ExportReport, OpenStream, SeriesAsk, by_symbol, runs, write_atomic


@dataclass(frozen=True)
class CsvRequest:
    """Some series (one dataset and interval each) of some symbols over a range, written under `out`."""

    market: Market
    series: tuple[tuple[DatasetSpec, Interval | None], ...]
    symbols: tuple[str, ...]
    range: TimeRange
    out: Path
    per_file: bool = False
    iso: bool = False


def export_csv(
    request: CsvRequest, open_stream: OpenStream, *, progress: ProgressSink | None = None
) -> ExportReport:
    """Write the CSV files of `request` (see the module docstring), holding `--out`'s lock throughout.
    `progress` receives phase "export" events: one series per symbol of each asked series (done when its
    files are written, or when the lake holds no row of it) and the rows written."""
    out = request.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a directory for the CSV files")
    with OutLock(out):  # one export into `out` at a time (export/out_lock.py)
        return _export_csv(request, open_stream, Progress(Phase.EXPORT, progress))


def _export_csv(request: CsvRequest, open_stream: OpenStream, counter: Progress) -> ExportReport:
    out = request.out
    report = ExportReport(out=out)
    exported: set[str] = set()
    for spec, interval in request.series:
        ask = SeriesAsk(
            market=request.market.value,
            dataset=spec.name,
            interval=interval.value if interval is not None else None,
            symbols=request.symbols,
            start=request.range.start,
            end=request.range.end,
        )
        stream = open_stream(ask)
        report.note_missing(stream, f"{spec.name} {ask.interval}" if interval else spec.name)
        wanted = set(request.symbols)
        counter.expect(len(wanted))
        seen = 0
        for symbol, table in by_symbol(stream):
            exported.add(symbol)
            for file, rows in _files(spec, request, interval, symbol, table):
                key = file.key.removesuffix(".zip") + ".csv"
                write_atomic(out / key, _csv(spec, request, file, rows))
                report.files_written += 1
                report.rows += rows.num_rows
            seen += symbol in wanted
            counter.add(done=int(symbol in wanted), rows=table.num_rows)
        counter.add(done=len(wanted) - seen)  # symbols without a row of this series in the range
    report.symbols = sorted(exported)
    return report


def _cadence(spec: DatasetSpec, per_file: bool) -> Cadence:
    """Monthly keys for month partitions (unless `per_file`); daily keys otherwise, where the dataset has them."""
    monthly = spec.granularity is Granularity.MONTH and Cadence.MONTHLY in spec.cadences
    if monthly and (not per_file or Cadence.DAILY not in spec.cadences):
        return Cadence.MONTHLY
    return Cadence.DAILY if Cadence.DAILY in spec.cadences else Cadence.MONTHLY


def _files(
    spec: DatasetSpec, request: CsvRequest, interval: Interval | None, symbol: str, table: pa.Table
) -> Iterator[tuple[ArchiveFile, pa.Table]]:
    """The symbol's rows cut into the archive files that would hold them (rows are in time order)."""
    cadence = _cadence(spec, request.per_file)
    times = table.column(spec.time_column)
    days = pc.cast(times, pa.date32())
    periods = (
        days if cadence is Cadence.DAILY else pc.cast(pc.floor_temporal(times, unit="month"), pa.date32())
    )
    for period, start, end in runs(periods):
        day: dt.date = period if cadence is Cadence.DAILY else month_start(period)
        yield (
            ArchiveFile(request.market, cadence, spec.name, symbol, interval, day),
            table.slice(start, end - start),
        )


def _csv(spec: DatasetSpec, request: CsvRequest, file: ArchiveFile, rows: pa.Table) -> bytes:
    """One file's rows as CSV text: the archive's columns (no `symbol`), times as the archive writes them."""
    layout = spec.layout(request.market)
    unit: Any = spec.epoch_unit(request.market, file.first_day)
    names: list[str] = []
    arrays: list[Any] = []
    for column in layout.kept:
        values: Any = rows.column(column.name)
        if column.is_time and request.iso:
            precise = values.cast(pa.timestamp(unit, tz="UTC"))
            values = pc.strftime(precise, format="%Y-%m-%dT%H:%M:%SZ")
        elif column.kind is ColumnKind.EPOCH_TIME:
            values = values.cast(pa.timestamp(unit, tz="UTC")).cast(pa.int64())
        elif column.kind is ColumnKind.TEXT_TIME:
            values = pc.strftime(values.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%d %H:%M:%S")
        elif column.kind is ColumnKind.TEXT_DATE:
            values = pc.strftime(values.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%d")
        names.append(column.name)
        arrays.append(values)
    # The header as the archive writes it (unquoted); Arrow's writer would quote every name.
    sink = io.BytesIO((",".join(names) + "\n").encode())
    sink.seek(0, io.SEEK_END)
    table = pa.Table.from_arrays(arrays, names=names)
    try:  # unquoted, as the archive writes its values
        pacsv.write_csv(
            table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
        )
    except pa.ArrowInvalid:  # a text value holding a comma or quote: quote text values
        sink = io.BytesIO((",".join(names) + "\n").encode())
        sink.seek(0, io.SEEK_END)
        pacsv.write_csv(
            table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
    return sink.getvalue()
