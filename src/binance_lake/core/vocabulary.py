"""Binance's own vocabulary: markets, cadences and kline intervals, and how they map onto archive paths.

Pure: no I/O. This is the one module that translates Binance's words (`um`, `futures/um`, `1mo`, `daily`);
nothing else in the package invents synonyms for them.
"""

from __future__ import annotations

import datetime as dt
import functools
from enum import StrEnum

from binance_lake.core.errors import UsageError


class Market(StrEnum):
    """A Binance market, named as the archive names it."""

    SPOT = "spot"
    UM = "um"  # USDⓈ-margined futures (fapi)
    CM = "cm"  # coin-margined futures (dapi)
    OPTION = "option"

    @property
    def archive_dir(self) -> str:
        """The key segment under `data/`: `spot`, `futures/um`, `futures/cm`, `option`.

        Options have no `futures/` level: `data/option/daily/BVOLIndex/...` (reference §1.1).
        """
        if self in (Market.UM, Market.CM):
            return f"futures/{self.value}"
        return self.value

    @property
    def is_futures(self) -> bool:
        return self in (Market.UM, Market.CM)


class Cadence(StrEnum):
    """How much time one archive file covers."""

    DAILY = "daily"
    MONTHLY = "monthly"


class Interval(StrEnum):
    """Kline intervals as the archive spells them (`python/enums.py` in binance-public-data).

    The monthly interval is `1mo`, not `1M`, "to support non-case sensitive file systems" (README).
    REST spells it `1M`; see `rest_name`.
    """

    S1 = "1s"
    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H8 = "8h"
    H12 = "12h"
    D1 = "1d"
    D3 = "3d"
    W1 = "1w"
    MO1 = "1mo"

    @property
    def rest_name(self) -> str:
        """The interval as the REST API spells it (`1M` for a month)."""
        return "1M" if self is Interval.MO1 else self.value

    @property
    def is_calendar(self) -> bool:
        """True for `1mo`, whose bars are calendar months and have no fixed length."""
        return self is Interval.MO1

    @property
    def duration(self) -> dt.timedelta:
        """The fixed length of one bar. `1mo` has none; asking for it is a usage error."""
        if self.is_calendar:
            raise UsageError("the 1mo interval has no fixed duration (its bars are calendar months)")
        return _DURATIONS[self]

    @property
    def milliseconds(self) -> int:
        return int(self.duration.total_seconds() * 1000)


_DURATIONS: dict[Interval, dt.timedelta] = {
    Interval.S1: dt.timedelta(seconds=1),
    Interval.M1: dt.timedelta(minutes=1),
    Interval.M3: dt.timedelta(minutes=3),
    Interval.M5: dt.timedelta(minutes=5),
    Interval.M15: dt.timedelta(minutes=15),
    Interval.M30: dt.timedelta(minutes=30),
    Interval.H1: dt.timedelta(hours=1),
    Interval.H2: dt.timedelta(hours=2),
    Interval.H4: dt.timedelta(hours=4),
    Interval.H6: dt.timedelta(hours=6),
    Interval.H8: dt.timedelta(hours=8),
    Interval.H12: dt.timedelta(hours=12),
    Interval.D1: dt.timedelta(days=1),
    Interval.D3: dt.timedelta(days=3),
    Interval.W1: dt.timedelta(weeks=1),
}

ALL_INTERVALS: tuple[Interval, ...] = tuple(Interval)

# Intervals with one file per day. The official scripts stop at 1d (`DAILY_INTERVALS`); futures daily
# 3d/1w/1mo files exist too, dated on the period start (binance-bulk-downloader tests download
# `BTCUSDT-1w-2023-06-12.zip`), while spot daily 3d/1w/1mo were never seen (reference §1.3).
_DAILY_UP_TO_1D: frozenset[Interval] = frozenset(ALL_INTERVALS[: ALL_INTERVALS.index(Interval.D1) + 1])
_PERIOD_START_DAILY: frozenset[Interval] = frozenset({Interval.D3, Interval.W1, Interval.MO1})


@functools.cache
def intervals_for(market: Market) -> tuple[Interval, ...]:
    """The kline intervals a market offers: `1s` is spot only (reference §1.3)."""
    if market is Market.SPOT:
        return ALL_INTERVALS
    return tuple(i for i in ALL_INTERVALS if i is not Interval.S1)


def has_daily_files(market: Market, interval: Interval) -> bool:
    """Whether the archive publishes one file per day for this interval in this market."""
    if interval not in intervals_for(market):
        return False
    if interval in _DAILY_UP_TO_1D:
        return True
    return market.is_futures and interval in _PERIOD_START_DAILY


_THREE_DAY_PHASE = 2


def is_daily_file_date(interval: Interval, day: dt.date) -> bool:
    """Daily files of 3d/1w/1mo bars exist only on the day a bar opens (reference §1.3).

    1w bars open on Mondays and 1mo bars on the 1st. 3d bars open every third day; the two real daily
    3d keys seen (`BTCUSDT-3d-2023-06-15.zip`, `BTCUSD_PERP-3d-2022-10-21.zip`) are both 2 mod 3 days
    after 1970-01-01, so that is the phase used here.
    """
    if interval is Interval.W1:
        return day.weekday() == 0
    if interval is Interval.MO1:
        return day.day == 1
    if interval is Interval.D3:
        return (day - dt.date(1970, 1, 1)).days % 3 == _THREE_DAY_PHASE
    return True


def parse_market(text: str) -> Market:
    try:
        return Market(text.strip().lower())
    except ValueError:
        raise UsageError(
            f"unknown market {text!r}; expected one of: {', '.join(m.value for m in Market)}"
        ) from None


def parse_interval(text: str) -> Interval:
    """Accept the archive spelling, and the REST spelling `1M` for a month."""
    cleaned = text.strip()
    if cleaned == "1M":
        return Interval.MO1
    try:
        return Interval(cleaned)
    except ValueError:
        raise UsageError(
            f"unknown interval {text!r}; expected one of: {', '.join(i.value for i in Interval)}"
        ) from None
