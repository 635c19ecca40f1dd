"""Time ranges as users give them, resolved by the one rule used everywhere.

Pure. All times are UTC. A range given as dates means whole UTC calendar days, inclusive at both ends
(`2024-01-01 .. 2024-12-31` is the year 2024); given as timestamps it is half-open `[start, end)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from binance_lake.core.errors import UsageError

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

DateLike = str | dt.date | dt.datetime


def parse_date(text: str) -> dt.date:
    """'2024-01-31' -> date; anything else is a usage error that quotes the input."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"malformed date {text!r}; expected YYYY-MM-DD") from None


def _parse_point(value: DateLike) -> dt.date | dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dt.date):
        return value
    text = value.strip()
    if len(text) == 10:
        return parse_date(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"malformed time {value!r}; expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, order=True)
class TimeRange:
    """A half-open UTC interval `[start, end)`."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.end > day_start(LAST_DAY) + dt.timedelta(days=1):
            raise _too_late(f"{self.end:%Y-%m-%d %H:%M}")
        if self.end <= self.start:
            raise UsageError(f"the range is empty: start {self.start:%Y-%m-%d %H:%M} is not before its end")

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        """The last calendar day the range touches."""
        return (self.end - dt.timedelta(microseconds=1)).date()

    def days(self) -> Iterator[dt.date]:
        return iter_days(self.first_day, self.last_day)


def resolve_range(start: DateLike, end: DateLike | None = None, *, today: dt.date | None = None) -> TimeRange:
    """Apply the range rule. A missing end means "through today" (UTC)."""
    first = _parse_point(start)
    last = _parse_point(end) if end is not None else (today or dt.datetime.now(UTC).date())
    start_ts = first if isinstance(first, dt.datetime) else day_start(first)
    if isinstance(last, dt.datetime):
        end_ts = last
    else:
        if not isinstance(first, dt.datetime) and last < first:
            raise UsageError(f"start {first} is after end {last}")
        end_ts = day_start(_day_after(last))
    if end_ts <= start_ts:
        raise UsageError(f"start {start} is not before end {end}")
    return TimeRange(start_ts, end_ts)


# The last day a range may touch. Calendar arithmetic on a range (the day after its end, the month after its
# last month) must stay within Python's dates, which end on 9999-12-31; a year short of that is plenty.
LAST_DAY = dt.date(9998, 12, 31)


def _too_late(what: object) -> UsageError:
    return UsageError(
        f"end {what} is too far in the future (the latest is {LAST_DAY}); leave it out for today"
    )


def _day_after(day: dt.date) -> dt.date:
    if day > LAST_DAY:
        raise _too_late(day)
    return day + dt.timedelta(days=1)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def iter_days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_text(day: dt.date) -> str:
    """`YYYY-MM` of `day`'s month: how the archive and the lake name a month (`strftime` does not pad years)."""
    return f"{day.year:04d}-{day.month:02d}"


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    return next_month(day) - dt.timedelta(days=1)


def iter_months(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """First days of every month touched by `first .. last`."""
    month = month_start(first)
    while month <= last:
        yield month
        month = next_month(month)


def to_millis(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def from_millis(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)
