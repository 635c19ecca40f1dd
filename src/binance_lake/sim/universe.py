"""The simulator's synthetic universe: its symbols, its clock, and the clean ground truth of every day.

`Universe.day_table` is the single source of truth: archive files are rendered from it (a monthly file is
the concatenation of its days) and the REST side answers from it, so both agree by construction. Content
is generated lazily per (seed, market, dataset, symbol, interval, day) and cached; nothing is generated
ahead of time, so even the large universe costs nothing until a file is asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import UTC, day_start
from binance_lake.core.vocabulary import Interval, Market

DEFAULT_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class SimSymbol:
    """One tradable symbol (or option underlying / volatility index) of the synthetic universe."""

    market: Market
    symbol: str
    pair: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    contract_type: str | None
    listed: dt.date
    delisted: dt.date | None
    onboard_ms: int
    delivery_ms: int
    contract_size: int | None
    # Additive extras (not part of the REST helper's contract): days without data inside the life span
    # (a delisted-then-relisted pair, issue #415) and the `...SETTLED` rename flag.
    gaps: tuple[tuple[dt.date, dt.date], ...] = ()
    settled: bool = False

    @property
    def is_delivery(self) -> bool:
        return self.contract_type is not None and self.contract_type != "PERPETUAL"

    @property
    def end_ms(self) -> int | None:
        """The first millisecond without data, or None while trading."""
        if self.is_delivery:
            return self.delivery_ms
        if self.delisted is None:
            return None
        return int(day_start(self.delisted + dt.timedelta(days=1)).timestamp() * 1000)

    def status(self, now: dt.datetime) -> str:
        """The exchangeInfo status word at `now`."""
        now_ms = int(now.timestamp() * 1000)
        if now_ms < self.onboard_ms:
            return "PENDING_TRADING"
        end = self.end_ms
        if end is None or now_ms < end:
            if self.settled:
                return "SETTLING"
            return "TRADING"
        if self.market is Market.SPOT:
            return "BREAK"
        if self.is_delivery:
            return "DELIVERED"
        return "CLOSE" if not self.settled else "SETTLING"

    def active_on(self, day: dt.date) -> bool:
        """True when the symbol has data on this UTC day."""
        if day < self.listed or (self.delisted is not None and day > self.delisted):
            return False
        return not any(first <= day <= last for first, last in self.gaps)


class SimClock:
    """The simulator's "now". Thread-safe: tests move it while the server thread reads it."""

    def __init__(self, now: dt.datetime = DEFAULT_NOW) -> None:
        self._lock = threading.Lock()
        self._now = _aware(now)

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, now: dt.datetime) -> None:
        with self._lock:
            self._now = _aware(now)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._now = self._now + delta


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# dataset -> the kline intervals offered (empty for datasets without an interval)
Offer = Mapping[str, tuple[Interval, ...]]


@dataclass
class Universe:
    """The synthetic market: symbols per market, what each offers, and its generated content."""

    seed: int
    clock: SimClock
    size: str
    roster: tuple[SimSymbol, ...]
    offers: Mapping[tuple[Market, str], Offer]
    # Big files take a listing-friendly shortcut: sizes computed arithmetically and zips padded to them.
    planned_sizes: bool = False
    # Trades per day of tick datasets, per symbol (modest by default).
    tick_rates: Mapping[tuple[Market, str], int] = field(default_factory=dict)
    # Archive-only windows narrower than a symbol's life: (market, symbol, dataset, interval) -> first, last.
    windows: Mapping[tuple[Market, str, str, Interval | None], tuple[dt.date, dt.date | None]] = field(
        default_factory=dict
    )
    _by_market: dict[Market, tuple[SimSymbol, ...]] = field(default_factory=dict, repr=False)
    _index: dict[tuple[Market, str], SimSymbol] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for market in Market:
            self._by_market[market] = tuple(
                sorted((s for s in self.roster if s.market is market), key=lambda s: s.symbol)
            )
        self._index.update({(s.market, s.symbol): s for s in self.roster})
        # Per-instance cache: the key includes the seed through `self`.
        self._day_table = functools.lru_cache(maxsize=2048)(self._generate_day)

    @classmethod
    def build(cls, size: str = "small", *, seed: int = 7, now: dt.datetime | None = None) -> Universe:
        """`small`, `medium`, `large`, or the path of a FILE.toml describing the symbols."""
        from binance_lake.sim import roster  # roster imports this module's classes

        clock = SimClock(now or DEFAULT_NOW)
        if size in SIZES:
            spec = roster.build_roster(size)
        elif size.endswith(".toml"):
            spec = roster.load_toml(Path(size))
        else:
            raise UsageError(f"unknown universe {size!r}; expected small, medium, large or a FILE.toml")
        return cls(
            seed=seed,
            clock=clock,
            size=size,
            roster=spec.symbols,
            offers=spec.offers,
            planned_sizes=spec.planned_sizes,
            tick_rates=spec.tick_rates,
            windows=spec.windows,
        )

    def symbols(self, market: Market) -> tuple[SimSymbol, ...]:
        return self._by_market[market]

    def symbol(self, market: Market, symbol: str) -> SimSymbol | None:
        return self._index.get((market, symbol))

    def offer(self, market: Market, symbol: str) -> Offer:
        return self.offers.get((market, symbol), {})

    def pair_members(self, market: Market, pair: str) -> tuple[SimSymbol, ...]:
        """The contracts whose index price is `pair`'s (indexPriceKlines directories are pairs)."""
        return tuple(s for s in self._by_market[market] if s.pair == pair and not s.settled)

    def tick_rate(self, market: Market, symbol: str) -> int:
        return self.tick_rates.get((market, symbol), 2000)

    def day_table(
        self, market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date
    ) -> pa.Table:
        """Clean ground truth for one UTC day in exactly `get_dataset(dataset).schema(market)`.

        Sorted by time, no duplicates, no archive quirks applied, exchange maintenance windows already
        absent, empty (with the right schema) when the symbol has no data that day. For 3d/1w/1mo klines:
        the bars that open on that day. `symbol` may be a pair for indexPriceKlines.
        """
        spec = get_dataset(dataset)
        spec.layout(market)
        return self._day_table(market, spec.name, symbol, interval, day)

    def _generate_day(
        self, market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date
    ) -> pa.Table:
        from binance_lake.sim import content  # content imports SimSymbol from here

        return content.generate_day(self, market, dataset, symbol, interval, day)

    def life_of(self, market: Market, symbol: str) -> SimSymbol | None:
        """The symbol, or for a pair (index directories) its longest-lived perpetual or first contract."""
        found = self.symbol(market, symbol)
        if found is not None:
            return found
        members = self.pair_members(market, symbol)
        if not members:
            return None
        perpetual = [s for s in members if s.contract_type == "PERPETUAL"]
        return (perpetual or sorted(members, key=lambda s: s.listed))[0]


PERPETUAL_DELIVERY_MS = quirks.PERPETUAL_DELIVERY_MS
