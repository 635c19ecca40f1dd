"""Time-series windows over the universe's day tables: the rows a REST request asks for.

REST pages are windows over time (`startTime`, `endTime`, `limit`), the universe hands out one UTC day at
a time (`Universe.day_table`). This module walks the days a window touches - forwards from `startTime`,
or backwards from `endTime`/now - slices each sorted day table with a binary search, and stops as soon as
`limit` rows are found. Rows come back as dicts with every time column as integer microseconds.

"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from binance_lake.core.timerange import UTC, day_start, month_start
from binance_lake.core.vocabulary import Interval, Market, is_daily_file_date
from binance_lake.sim.universe import Universe

Row = dict[str, Any]
US_PER_MS = 1000
US_PER_DAY = 86_400_000_000
NO_END = 2**62  # microseconds: far beyond any simulated data


def to_us(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


_EPOCH_DAY = dt.date(1970, 1, 1)
_LAST_DAY_NUMBER = (dt.date(9999, 12, 30) - _EPOCH_DAY).days


def day_of(us: int) -> dt.date:
    """The UTC day of an epoch in µs, clamped to 1970-01-01 .. 9999-12-30 (requests may send any int)."""
    return _EPOCH_DAY + dt.timedelta(days=min(max(us // US_PER_DAY, 0), _LAST_DAY_NUMBER))


class DayTables:
    """The seam through which the REST side reads `Universe.day_table` (which caches what it generates)."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def get(
        self, market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date
    ) -> pa.Table:
        return self.universe.day_table(market, dataset, symbol, interval, day)


@dataclass(frozen=True)
class Window:
    """Which rows a request wants: times in `[lo_us, hi_us]` (both inclusive), at most `limit` of them,
    the first ones when `forward` (a `startTime` was given) and the last ones otherwise."""

    lo_us: int
    hi_us: int
    limit: int
    forward: bool

    @classmethod
    def of(cls, start_us: int | None, end_us: int | None, limit: int, *, lo_us: int, hi_us: int) -> Window:
        """Apply Binance's paging rule, clipped to what exists in `[lo_us, hi_us]`:
        startTime -> forward from it; only endTime -> the `limit` rows ending there; neither -> the
        latest `limit` rows."""
        lo = lo_us if start_us is None else max(lo_us, start_us)
        hi = hi_us if end_us is None else min(hi_us, end_us)
        return cls(lo, hi, limit, forward=start_us is not None)

    @property
    def empty(self) -> bool:
        return self.hi_us < self.lo_us


def _days(first: dt.date, last: dt.date, forward: bool) -> Iterator[dt.date]:
    step = dt.timedelta(days=1 if forward else -1)
    day, stop = (first, last) if forward else (last, first)
    while (day <= stop) if forward else (day >= stop):
        yield day
        day += step


def _with_int_times(table: pa.Table) -> list[Row]:
    """Rows as dicts, every timestamp column as integer microseconds."""
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type):
            table = table.set_column(i, fld.name, table.column(i).cast(pa.int64()))
    rows: list[Row] = table.to_pylist()
    return rows


Keep = Callable[[pa.Table, "np.ndarray[Any, Any]", "np.ndarray[Any, Any]"], "np.ndarray[Any, Any]"]


def on_grid(step_us: int) -> Keep:
    """Keep only rows stamped on multiples of `step_us` (a `/futures/data` period over 5-minute rows)."""
    return lambda _table, times, index: index[times[index] % step_us == 0]


def collect(
    fetch: Callable[[dt.date], pa.Table],
    time_column: str,
    window: Window,
    *,
    first_day: dt.date,
    last_day: dt.date,
    day_has_rows: Callable[[dt.date], bool] = lambda _: True,
    spill_days: int = 0,
    keep: Keep | None = None,
) -> list[Row]:
    """The rows of `window`, ascending, read from the day tables of `first_day .. last_day`.

    `keep` narrows the candidate row indices of a day table before the limit is applied.
    `spill_days` widens the walk for datasets whose day tables can hold a row stamped on the next day
    (UM metrics before 2026-06-25 end at 00:00 of the next day, issue #491); rows seen twice across
    days keep their first copy.
    """
    if window.empty or window.limit <= 0:
        return []
    first = max(first_day, day_of(window.lo_us) - dt.timedelta(days=spill_days))
    last = min(last_day, day_of(window.hi_us))
    found: dict[int, Row] = {}
    for day in _days(first, last, window.forward):
        if not day_has_rows(day):
            continue
        table = fetch(day)
        if table.num_rows == 0:
            continue
        times = table.column(time_column).cast(pa.int64()).to_numpy()
        start = int(np.searchsorted(times, window.lo_us, side="left"))
        stop = int(np.searchsorted(times, window.hi_us, side="right"))
        if stop <= start:
            continue
        index = np.arange(start, stop)
        if keep is not None:
            index = keep(table, times, index)
        index = index[: window.limit] if window.forward else index[-window.limit :]
        for row in _with_int_times(table.take(pa.array(index, type=pa.int64()))):
            found.setdefault(row[time_column], row)
        if len(found) >= window.limit:
            break
    ordered = [found[t] for t in sorted(found)]
    return ordered[: window.limit] if window.forward else ordered[-window.limit :]


def last_closed_open_us(interval: Interval, now: dt.datetime) -> int:
    """The latest open time whose bar has closed by `now`: bars still open are never served."""
    if interval.is_calendar:
        return to_us(day_start(month_start(now.date()))) - 1
    return to_us(now) - interval.milliseconds * US_PER_MS


def bar_days(interval: Interval) -> Callable[[dt.date], bool]:
    """Which days can hold bar openings: every day up to 1d; 3d/1w/1mo bars open on their own days."""
    return lambda day: is_daily_file_date(interval, day)


def value_at(table: pa.Table, time_column: str, value_column: str, at_us: int) -> float | None:
    """The value of the row stamped at or just before `at_us` within `table`, if there is one."""
    if table.num_rows == 0:
        return None
    times = table.column(time_column).cast(pa.int64()).to_numpy()
    index = int(np.searchsorted(times, at_us, side="right")) - 1
    if index < 0:
        return None
    value = table.column(value_column)[index].as_py()
    return None if value is None else float(value)
