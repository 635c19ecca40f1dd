"""`Lake.load(..., source=...)`: which source a load serves (seed 001's `enforce_source`), and the per-row
`source` column that lets a backtest drop provisional rows.

- `lake` (the default): what the lake holds, whoever wrote it;
- `auto`: first sync the days the lake lacks from the archive (as `fill=True`), then `update` the series so
  what the archive has not published yet comes from REST, up to the last closed bar; then what the lake holds;
- `archive`: the days the lake lacks are synced from the archive first; only rows of archive days are returned;
- `rest`: rows from REST only: the lake's REST-provisional days, the days it lacked (fetched and stored as
  provisional first) and, fetched but not stored, the days it holds from the archive
  (`engine/rest_range.py`, through `UpdateMethods._from_rest`).
The `source` column (`with_source=True`) is the day's provenance (`core.provenance.Provenance` values) from
`day_provenance`, read through its owner (`storage.provenance.held_days`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.errors import UsageError
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.load.request import LoadRequest
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import held_days

SOURCES = ("lake", "auto", "archive", "rest")
SOURCE_COLUMN = "source"
ARCHIVE = frozenset({Provenance.ARCHIVE_MONTHLY.value, Provenance.ARCHIVE_DAILY.value})

Update = Callable[..., object]


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise UsageError(f"unknown source {source!r}; expected one of: {', '.join(SOURCES)}")
    return source


def update_for(request: LoadRequest, update: Update) -> None:
    """`auto`: bring the request's series to the last closed bar (archive first, then REST)."""
    update(
        market=request.market.value,
        datasets=[request.dataset],
        intervals=[request.interval.value] if request.interval is not None else None,
        symbols=list(request.symbols),
        days_back=max(0, (dt.datetime.now(dt.UTC).date() - request.range.last_day).days),
    )


def with_sources(root: Path, request: LoadRequest, table: pa.Table) -> pa.Table:
    """`table` with a `source` column: each row's day's provenance (null where none is recorded)."""
    database = LakeDatabase(root)
    if not database.path.exists() or table.num_rows == 0:
        return table.append_column(SOURCE_COLUMN, pa.nulls(table.num_rows, pa.string()))
    with database.connect(read_only=True) as connection:
        days = held_days(
            connection,
            market=request.market.value,
            dataset=request.dataset,
            interval=request.interval.value if request.interval is not None else None,
            symbols=list(request.symbols),
            first=request.range.first_day,
            last=request.range.last_day,
        )
    known = pa.table(
        {
            "symbol": pa.array([d.symbol for d in days], pa.string()),
            "__day": pa.array([d.day for d in days], pa.date32()),
            SOURCE_COLUMN: pa.array([d.source.value for d in days], pa.string()),
        }
    )
    keyed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64())).append_column(
        "__day", pc.cast(table.column(request.time_column), pa.date32())
    )
    joined = keyed.join(known, keys=["symbol", "__day"], join_type="left outer")
    joined = joined.sort_by("__row")
    return joined.drop_columns(["__row", "__day"])


def with_served(table: pa.Table, request: LoadRequest, served: Mapping[SeriesKey, pa.Table]) -> pa.Table:
    """`table` (with its `source` column) and the rows fetched from REST for it without storing, in its
    columns, sorted by (symbol, time)."""
    parts = [table]
    for key, rows in sorted(served.items(), key=lambda kv: kv[0].symbol):
        columns: list[Any] = []
        for field in table.schema:
            if field.name == "symbol":
                columns.append(pa.array([key.symbol] * rows.num_rows, field.type))
            elif field.name == SOURCE_COLUMN:
                columns.append(pa.array([Provenance.REST.value] * rows.num_rows, field.type))
            else:
                columns.append(rows.column(field.name).cast(field.type))
        parts.append(pa.table(columns, schema=table.schema))
    if len(parts) == 1:
        return table
    merged = pa.concat_tables(parts)
    return merged.sort_by([("symbol", "ascending"), (request.time_column, "ascending")])


def only_source(table: pa.Table, source: str) -> pa.Table:
    """The rows of `table` (with its `source` column) that `source` serves."""
    if source == "archive":
        return table.filter(pc.is_in(table.column(SOURCE_COLUMN), pa.array(sorted(ARCHIVE), pa.string())))
    if source == "rest":
        return table.filter(
            pc.equal(table.column(SOURCE_COLUMN), pa.scalar(Provenance.REST.value, pa.string()))
        )
    return table
