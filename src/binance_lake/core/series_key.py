"""The core value types of a series and a run of days: `SeriesKey` and `DaySpan`.

Pure. A `SeriesKey` names one series of the lake — market, dataset, interval (None for datasets without one)
and symbol. It is a NamedTuple on purpose: it still compares and hashes like the plain 4-tuple of strings
it replaces (`Market` and `Interval` are `StrEnum`s), so mappings keyed by either agree.

A `DaySpan` is the days `first .. last`, both ends included; `merge_spans` and `uncovered` are the one place
runs of days are merged and subtracted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market, parse_interval, parse_market

_ONE_DAY = dt.timedelta(days=1)
_NO_INTERVAL = "-"  # the text form's placeholder for a dataset without an interval


class SeriesKey(NamedTuple):
    market: Market
    dataset: str
    interval: Interval | None
    symbol: str

    @property
    def path(self) -> str:
        """`um/klines/1h/BTCUSDT` (no interval part when there is none): the sync summary's spelling."""
        return "/".join(x for x in self if x)

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.market.value, self.dataset, self.interval.value if self.interval else "", self.symbol)

    def __str__(self) -> str:
        """`um klines 1h BTCUSDT`; `um fundingRate - BTCUSDT` when there is no interval."""
        interval = self.interval.value if self.interval else _NO_INTERVAL
        return f"{self.market.value} {self.dataset} {interval} {self.symbol}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """The key `str(key)` wrote."""
        parts = text.split()
        if len(parts) != 4:
            raise UsageError(f"invalid series {text!r}: expected 'market dataset interval symbol'")
        market, dataset, interval, symbol = parts
        return cls(
            parse_market(market),
            dataset,
            None if interval == _NO_INTERVAL else parse_interval(interval),
            symbol,
        )


@dataclass(frozen=True, order=True)
class DaySpan:
    """The days `first .. last`, both included. A dataclass, not a tuple: its length is its days."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"empty day span {self.first} .. {self.last}")

    def __iter__(self) -> Iterator[dt.date]:
        """`first, last = span`, as the `(first, last)` pairs it replaces unpack."""
        return iter((self.first, self.last))

    def days(self) -> Iterator[dt.date]:
        day = self.first
        while day <= self.last:
            yield day
            day += _ONE_DAY

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    def contains(self, day: dt.date) -> bool:
        return self.first <= day <= self.last

    def overlaps(self, other: DaySpan) -> bool:
        return self.first <= other.last and other.first <= self.last


Days = DaySpan | tuple[dt.date, dt.date]


def _pairs(spans: Iterable[Days]) -> list[tuple[dt.date, dt.date]]:
    return sorted((s.first, s.last) if isinstance(s, DaySpan) else s for s in spans)


def merge_spans(spans: Iterable[Days]) -> list[DaySpan]:
    """Sorted, disjoint spans holding exactly the days of `spans`; adjacent spans are joined."""
    merged: list[DaySpan] = []
    for lo, hi in _pairs(spans):
        if merged and (merged[-1].last == dt.date.max or lo <= merged[-1].last + _ONE_DAY):
            merged[-1] = DaySpan(merged[-1].first, max(merged[-1].last, hi))
        else:
            merged.append(DaySpan(lo, hi))
    return merged


def uncovered(first: dt.date, last: dt.date, spans: Iterable[Days]) -> list[DaySpan]:
    """The parts of `first .. last` that no span of `spans` covers, sorted."""
    gaps: list[DaySpan] = []
    cursor = first
    for lo, hi in _pairs(spans):
        if hi < cursor:
            continue
        if lo > last:
            break
        if lo > cursor:
            gaps.append(DaySpan(cursor, lo - _ONE_DAY))
        if hi >= last:
            return gaps
        cursor = max(cursor, hi + _ONE_DAY)
    if cursor <= last:
        gaps.append(DaySpan(cursor, last))
    return gaps
