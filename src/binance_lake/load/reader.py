"""Reading one dataset's partitions for some symbols and a time range: `load_table`.

Only the partition files that can hold the range are opened (one a month for bar-like datasets, one a day for
tick-like ones; DESIGN.md "Storage"); DuckDB reads them with Hive partitioning, so the `symbol` comes from the
path, and pushes the time filter down to the Parquet row groups. Rows come back sorted by (symbol, time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from binance_lake.core.datasets import Granularity
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import Partition, partition_for_day
from binance_lake.core.timerange import TimeRange, iter_days, iter_months
from binance_lake.load.connection import Cursor, attached, cursor
from binance_lake.load.coverage import Coverage, coverage
from binance_lake.load.missing import Missing
from binance_lake.load.request import LoadRequest


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


def read(handle: Cursor, files: list[Path], request: LoadRequest) -> pa.Table:
    """The rows of `files` inside the request's range, `symbol` first, sorted by (symbol, time)."""
    schema = result_schema(request)
    if not files:
        return schema.empty_table()
    time = request.time_column
    columns = ", ".join(f'"{c}"' for c in request.columns)
    table = handle.sql(
        f"""
        SELECT symbol, {columns}
        FROM read_parquet($files, hive_partitioning = true, hive_types_autocast = false)
        WHERE "{time}" >= $start AND "{time}" < $end
        ORDER BY symbol, "{time}"
        """,
        params={"files": [str(f) for f in files], "start": request.range.start, "end": request.range.end},
    ).to_arrow_table()
    result: pa.Table = table.select(schema.names).cast(schema)
    return result


def load_table(
    root: Path, request: LoadRequest, *, require: bool = True, lookback: dt.timedelta = dt.timedelta(0)
) -> Loaded:
    """Load a request. With `require`, symbols the lake has never held are a `UsageError` that says how to
    fetch them; otherwise they are returned in `Loaded.absent` (and their days in `missing`).

    `lookback` also reads rows that far before the range (for as-of joins), without reporting those days.
    """
    reading = request.with_range(TimeRange(request.range.start - lookback, request.range.end))
    with cursor() as handle:
        with attached(handle, root) as alias:
            covered: Coverage = coverage(handle, alias, request)
        files = partition_files(root, reading)
        absent = tuple(s for s in request.symbols if s not in covered.held and s not in files)
        if require and absent:
            raise UsageError(not_held_message(root, request, absent))
        table = read(handle, [f for s in request.symbols for f in files.get(s, [])], reading)
    return Loaded(table, covered.missing, absent)


def not_held_message(root: Path, request: LoadRequest, absent: tuple[str, ...]) -> str:
    series = f"{request.dataset} {request.interval.value}" if request.interval else request.dataset
    return (
        f"the lake at {root} holds no {series} data for {', '.join(absent)} in market {request.market.value}; "
        f"fetch it with: {request.sync_hint(absent)}"
    )
