"""Windows over day tables: paging forwards/backwards, inclusive ends, limits and the visibility bound."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Interval
from binance_lake.sim.rest_series import (
    US_PER_DAY,
    Window,
    collect,
    day_of,
    last_closed_open_us,
    on_grid,
    to_us,
    value_at,
)

STEP = 3_600_000_000  # hourly rows
FIRST = dt.date(2024, 1, 1)
LAST = dt.date(2024, 1, 10)


def _day(day: dt.date) -> pa.Table:
    if not FIRST <= day <= LAST:
        return pa.table({"t": pa.array([], pa.timestamp("us", tz="UTC")), "v": pa.array([], pa.float64())})
    start = to_us(dt.datetime(day.year, day.month, day.day, tzinfo=UTC))
    times = [start + i * STEP for i in range(24)]
    return pa.table(
        {"t": pa.array(times, pa.timestamp("us", tz="UTC")), "v": [float(t // STEP) for t in times]}
    )


ALL = [
    t for d in range(10) for t in _day(FIRST + dt.timedelta(days=d)).column("t").cast(pa.int64()).to_pylist()
]


def _times(window: Window) -> list[int]:
    return [r["t"] for r in collect(_day, "t", window, first_day=FIRST, last_day=LAST)]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=-5, max_value=len(ALL) + 5),
    st.integers(min_value=-5, max_value=len(ALL) + 5),
    st.integers(min_value=1, max_value=60),
    st.booleans(),
)
def test_collect_equals_slicing_the_whole_series(a: int, b: int, limit: int, forward: bool) -> None:
    lo = ALL[0] + a * STEP - 1
    hi = ALL[0] + b * STEP
    inside = [t for t in ALL if lo <= t <= hi]
    expected = inside[:limit] if forward else inside[-limit:]
    assert _times(Window(lo, hi, limit, forward)) == expected


def test_end_is_inclusive_and_rows_come_back_as_int_micros() -> None:
    rows = collect(
        _day, "t", Window.of(None, ALL[5], 3, lo_us=0, hi_us=2**62), first_day=FIRST, last_day=LAST
    )
    assert [r["t"] for r in rows] == ALL[3:6]
    assert all(isinstance(r["t"], int) for r in rows)


def test_paging_forward_covers_everything_once() -> None:
    seen: list[int] = []
    start = ALL[0]
    while True:
        page = _times(Window.of(start, None, 7, lo_us=0, hi_us=2**62))
        if not page:
            break
        seen.extend(page)
        start = page[-1] + 1
    assert seen == ALL


def test_grid_filter_applies_before_the_limit() -> None:
    four_hourly = [t for t in ALL if t % (4 * STEP) == 0]
    rows = collect(
        _day, "t", Window(ALL[0], ALL[-1], 10, True), first_day=FIRST, last_day=LAST, keep=on_grid(4 * STEP)
    )
    assert [r["t"] for r in rows] == four_hourly[:10]


def test_last_closed_bar() -> None:
    now = dt.datetime(2024, 3, 10, 12, 34, 56, tzinfo=UTC)
    assert last_closed_open_us(Interval.M1, now) == to_us(dt.datetime(2024, 3, 10, 12, 33, 56, tzinfo=UTC))
    assert last_closed_open_us(Interval.MO1, now) == to_us(dt.datetime(2024, 3, 1, tzinfo=UTC)) - 1


def test_value_at_and_day_of() -> None:
    table = _day(FIRST)
    assert value_at(table, "t", "v", ALL[2] + 5) == ALL[2] // STEP
    assert value_at(table, "t", "v", ALL[0] - 1) is None
    assert day_of(ALL[0] + US_PER_DAY) == FIRST + dt.timedelta(days=1)
