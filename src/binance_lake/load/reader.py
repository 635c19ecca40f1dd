"""Reading one dataset's partitions for some symbols and a time range: `load_table`.

Only the partition files that can hold the range are opened (one a month for bar-like datasets, one a day for
tick-like ones; DESIGN.md "Storage"), with Arrow directly: for a year of one symbol that is a dozen small
files, where a DuckDB query's fixed cost would dominate. The `symbol` comes from the path. Rows come back
sorted by (symbol, time).
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.datasets import Granularity
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import Partition, partition_for_day
from binance_lake.core.timerange import TimeRange, iter_days, iter_months
from binance_lake.load.connection import Cursor, attached, cursor
from binance_lake.load.coverage import Coverage, coverage
from binance_lake.load.missing import Missing
from binance_lake.load.request import LoadRequest

# Reads up to this many bytes of Parquet go through DuckDB, bigger ones through Arrow threads.
SMALL_READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Loaded:
    """Rows of a request (Arrow, `symbol` first, sorted by symbol and time) and what the lake lacked."""

    table: pa.Table
    missing: Missing
    absent: tuple[str, ...] = ()  # symbols the lake has never held (only when not required)


def result_schema(request: LoadRequest) -> pa.Schema:
    lake = request.spec.schema(request.market)
    return pa.schema([pa.field("symbol", pa.string()), *(lake.field(c) for c in request.columns)])


def _periods(request: LoadRequest) -> list[dt.date]:
    first, last = request.range.first_day, request.range.last_day
    if request.spec.granularity is Granularity.MONTH:
        return list(iter_months(first, last))
    return list(iter_days(first, last))


def partition_files(root: Path, request: LoadRequest) -> dict[str, list[Path]]:
    """The existing partition files that can hold each symbol's rows in the range, in time order."""
    periods = _periods(request)
    found: dict[str, list[Path]] = {}
    for symbol in request.symbols:
        first = partition_for_day(request.dataset, request.market, request.interval, symbol, periods[0])
        directory = root / first.directory
        try:
            names = {p.name for p in directory.iterdir()}
        except (FileNotFoundError, NotADirectoryError):
            continue
        paths = [
            Partition(request.dataset, request.market, request.interval, symbol, p).path for p in periods
        ]
        files = [root / p for p in paths if p.name in names]
        if names:
            found[symbol] = files
    return found


def _read_file(path: Path, symbol: str, request: LoadRequest) -> pa.Table:
    with pq.ParquetFile(path) as parquet:
        table = parquet.read(columns=list(request.columns))
    times = table.column(request.time_column)
    # Partitions are whole months or days; only the first and last can stick out of the range.
    if table.num_rows and (times[0].as_py() < request.range.start or times[-1].as_py() >= request.range.end):
        keep = pc.and_(
            pc.greater_equal(times, pa.scalar(request.range.start, times.type)),
            pc.less(times, pa.scalar(request.range.end, times.type)),
        )
        table = table.filter(keep)
    symbols = pa.array([symbol], pa.string()).take(np.zeros(table.num_rows, dtype=np.int32))
    return table.add_column(0, "symbol", symbols)


def read(files: dict[str, list[Path]], request: LoadRequest) -> pa.Table:
    """The rows of each symbol's `files` inside the request's range, `symbol` first, sorted by (symbol, time).

    Small reads (a year of hourly bars: a dozen files of ~40 KB) go through one DuckDB query, whose cost
    per file is lowest; big ones through Arrow in parallel threads, which decodes large files fastest.
    Partitions are sorted by time and de-duplicated when written (storage.parquet), so reading each
    symbol's files in period order, symbols in name order, needs no sort on the Arrow path.
    """
    schema = result_schema(request)
    jobs = [(path, symbol) for symbol in sorted(files) for path in files[symbol]]
    if not jobs:
        return schema.empty_table()
    try:
        if sum(path.stat().st_size for path, _ in jobs) <= SMALL_READ_BYTES:
            with cursor() as handle:
                table = _read_duckdb(handle, [path for path, _ in jobs], request)
        else:
            with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) * 2)) as pool:
                table = pa.concat_tables(pool.map(lambda job: _read_file(job[0], job[1], request), jobs))
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot read the lake's partitions: {error}") from error
    result: pa.Table = table.select(schema.names).cast(schema)
    return result


def _read_duckdb(handle: Cursor, paths: list[Path], request: LoadRequest) -> pa.Table:
    time = request.time_column
    columns = ", ".join(f'"{c}"' for c in request.columns)
    table: pa.Table = handle.sql(
        f"""
        SELECT symbol, {columns}
        FROM read_parquet($files, hive_partitioning = true, hive_types_autocast = false)
        WHERE "{time}" >= $start AND "{time}" < $end
        ORDER BY symbol, "{time}"
        """,
        params={"files": [str(p) for p in paths], "start": request.range.start, "end": request.range.end},
    ).to_arrow_table()
    return table


def load_table(
    root: Path, request: LoadRequest, *, require: bool = True, lookback: dt.timedelta = dt.timedelta(0)
) -> Loaded:
    """Load a request. With `require`, symbols the lake has never held are a `UsageError` that says how to
    fetch them; otherwise they are returned in `Loaded.absent` (and their days in `missing`).

    `lookback` also reads rows that far before the range (for as-of joins), without reporting those days.
    """
    reading = request.with_range(TimeRange(request.range.start - lookback, request.range.end))
    with cursor() as handle, attached(handle, root) as alias:
        covered: Coverage = coverage(handle, alias, request)
    files = partition_files(root, reading)
    absent = tuple(s for s in request.symbols if s not in covered.held and s not in files)
    if require and absent:
        raise UsageError(not_held_message(root, request, absent))
    table = read(files, reading)
    return Loaded(table, covered.missing, absent)


def not_held_message(root: Path, request: LoadRequest, absent: tuple[str, ...]) -> str:
    series = f"{request.dataset} {request.interval.value}" if request.interval else request.dataset
    return (
        f"the lake at {root} holds no {series} data for {', '.join(absent)} in market {request.market.value}; "
        f"fetch it with: {request.sync_hint(absent)}"
    )
