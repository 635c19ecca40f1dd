from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import (
    LAST_DAY,
    TimeRange,
    from_millis,
    iter_months,
    month_end,
    resolve_range,
    to_millis,
)

UTC = dt.UTC


def test_dates_are_whole_days_inclusive() -> None:
    year = resolve_range("2024-01-01", "2024-12-31")
    assert year.start == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert year.end == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert year.last_day == dt.date(2024, 12, 31)
    assert len(list(year.days())) == 366


def test_timestamps_are_half_open() -> None:
    r = resolve_range("2024-01-01T00:00", "2024-01-01T12:00")
    assert r.end == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert r.last_day == dt.date(2024, 1, 1)


def test_bad_ranges_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="after end"):
        resolve_range("2024-02-01", "2024-01-01")
    with pytest.raises(UsageError, match="malformed"):
        resolve_range("2024-13-01")
    with pytest.raises(UsageError):
        TimeRange(dt.datetime(2024, 1, 2, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC))


def test_missing_end_means_through_today() -> None:
    r = resolve_range("2024-01-01", today=dt.date(2024, 1, 3))
    assert r.last_day == dt.date(2024, 1, 3)


def test_months() -> None:
    assert list(iter_months(dt.date(2023, 11, 15), dt.date(2024, 2, 1))) == [
        dt.date(2023, 11, 1),
        dt.date(2023, 12, 1),
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    ]
    assert month_end(dt.date(2024, 2, 10)) == dt.date(2024, 2, 29)


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_millis_round_trip(ms: int) -> None:
    assert to_millis(from_millis(ms)) == ms


@pytest.mark.parametrize("end", ["9999-12-31", "9999-12-30", "9999-01-01", "9999-12-31T00:00", dt.date.max])
def test_an_end_past_the_calendar_is_a_usage_error(end: str | dt.date) -> None:
    with pytest.raises(UsageError, match="too far in the future"):
        resolve_range("2024-01-01", end)


@given(st.dates(min_value=dt.date(1970, 1, 1), max_value=LAST_DAY))
def test_any_end_up_to_the_last_day_resolves_and_its_months_can_be_walked(last: dt.date) -> None:
    r = resolve_range("1970-01-01", last.isoformat())
    assert r.last_day == last
    assert month_end(last) >= last  # calendar arithmetic past the end stays within Python's dates


def test_month_text_pads_the_year_and_month() -> None:
    from binance_lake.core.timerange import month_text

    assert month_text(dt.date(2024, 3, 31)) == "2024-03"
    assert month_text(dt.date(999, 1, 1)) == "0999-01"
