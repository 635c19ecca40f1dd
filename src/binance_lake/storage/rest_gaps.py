"""Confirmed REST gaps: the owner of `rest_gaps` (migration 8).

`update --fill-gaps` asks REST for what is missing inside a series' held range. A window REST answers without
rows (bars on the series' grid, or whole days) is not there upstream either: it is recorded here so the next
run does not ask for it again. `kind` is `maintenance` when every symbol asked for the same window lacked it
(an exchange maintenance, core/quirks.py `MAINTENANCE_SHARE`), else `absent` (this symbol alone). Times are
the first and last missing time (both included, open times for bars).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

from binance_lake.core.series_key import SeriesKey
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import Connection


class GapKind(StrEnum):
    MAINTENANCE = "maintenance"  # every symbol asked lacks the window
    ABSENT = "absent"  # this symbol's REST answer lacks it


@dataclass(frozen=True)
class RestGap:
    """One window REST lacks for a series: times in `[start, end]`, both included."""

    series: SeriesKey
    start: dt.datetime
    end: dt.datetime
    kind: GapKind
    request: str  # the REST request that answered without these rows

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.start <= start and end <= self.end


_TIME = pa.timestamp("us", tz="UTC")
_FIELDS: list[pa.Field[Any]] = [
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("start_time", _TIME),
    pa.field("end_time", _TIME),
    pa.field("kind", pa.string()),
    pa.field("request", pa.string()),
    pa.field("confirmed_at", _TIME),
]
_SCHEMA = pa.schema(_FIELDS)


def record_rest_gaps(
    connection: Connection, gaps: Iterable[RestGap], *, now: dt.datetime | None = None
) -> int:
    """Append these confirmed gaps (one statement); the number recorded."""
    when = now or dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = [
        {
            "market": g.series.market.value,
            "dataset": g.series.dataset,
            "interval": g.series.interval.value if g.series.interval else None,
            "symbol": g.series.symbol,
            "start_time": g.start,
            "end_time": g.end,
            "kind": g.kind.value,
            "request": g.request,
            "confirmed_at": when,
        }
        for g in gaps
    ]
    if not rows:
        return 0
    connection.register("rest_gaps_batch", pa.Table.from_pylist(rows, schema=_SCHEMA))
    try:
        connection.execute("INSERT INTO rest_gaps BY NAME SELECT * FROM rest_gaps_batch")
    finally:
        connection.unregister("rest_gaps_batch")
    return len(rows)


def rest_gaps(connection: Connection, series: Sequence[SeriesKey] | None = None) -> list[RestGap]:
    """The confirmed gaps (of `series` when given), oldest window first. A lake without the table has none."""
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'rest_gaps'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = connection.execute(
        'SELECT market, dataset, "interval", symbol, start_time, end_time, kind, request FROM rest_gaps '
        "ORDER BY market, dataset, symbol, start_time"
    ).fetchall()
    wanted = None if series is None else set(series)
    found: list[RestGap] = []
    for market, dataset, interval, symbol, start, end, kind, request in rows:
        key = SeriesKey(Market(market), dataset, Interval(interval) if interval else None, symbol)
        if wanted is None or key in wanted:
            found.append(RestGap(key, start, end, GapKind(kind), request))
    return found
