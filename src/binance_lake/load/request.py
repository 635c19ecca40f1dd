"""A load request as the user gave it, validated into Binance's vocabulary: dataset, market, interval,
symbols, time range and columns.

Pure: no I/O. Every bad input becomes a `UsageError` of one sentence naming what to change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from binance_lake.core.datasets import DatasetSpec, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import expand_symbol_list
from binance_lake.core.timerange import DateLike, TimeRange, resolve_range
from binance_lake.core.vocabulary import Interval, Market, intervals_for, parse_interval, parse_market

SymbolsArg = str | Iterable[str]


@dataclass(frozen=True)
class LoadRequest:
    """One dataset series family (dataset, market, interval) for some symbols over `[range.start, range.end)`."""

    spec: DatasetSpec
    market: Market
    interval: Interval | None
    symbols: tuple[str, ...]
    range: TimeRange
    columns: tuple[str, ...]  # lake columns to return, the time column first

    @property
    def dataset(self) -> str:
        return self.spec.name

    @property
    def time_column(self) -> str:
        return self.spec.time_column

    def with_symbols(self, symbols: Iterable[str]) -> LoadRequest:
        return LoadRequest(self.spec, self.market, self.interval, tuple(symbols), self.range, self.columns)

    def with_range(self, new: TimeRange) -> LoadRequest:
        return LoadRequest(self.spec, self.market, self.interval, self.symbols, new, self.columns)

    def sync_hint(self, symbols: Iterable[str] | None = None) -> str:
        """The command that fetches this request's data, for error messages."""
        chosen = ",".join(symbols if symbols is not None else self.symbols)
        interval = f" --intervals {self.interval.value}" if self.interval is not None else ""
        return (
            f"binance-lake sync --market {self.market.value} --datasets {self.dataset}{interval} "
            f"--symbols {chosen} --start {self.range.first_day} --end {self.range.last_day}"
        )


def parse_symbols(symbols: SymbolsArg, market: Market | None = None) -> tuple[str, ...]:
    """Symbols as a list or a comma-separated string, any case, ccxt names (mapped for `market`) and
    `@file:PATH` included; order kept, duplicates dropped."""
    items = [s for s in symbols.split(",")] if isinstance(symbols, str) else list(symbols)
    if not all(isinstance(s, str) for s in items):
        raise UsageError("symbols must be strings such as 'BTCUSDT' (or one comma-separated string)")
    text = ",".join(s for s in items if s.strip())
    chosen = tuple(expand_symbol_list(text, {}, market=market.value if market else None))
    if not chosen:
        raise UsageError("no symbols given; name at least one, e.g. symbols=['BTCUSDT']")
    return chosen


def parse_market_for(spec: DatasetSpec, market: str | Market) -> Market:
    chosen = market if isinstance(market, Market) else parse_market(market)
    spec.layout(chosen)  # a UsageError naming the markets the dataset exists in
    return chosen


def parse_interval_for(spec: DatasetSpec, market: Market, interval: str | Interval | None) -> Interval | None:
    """The kline family needs an interval the market offers; every other dataset takes none."""
    allowed = intervals_for(market)
    if spec.has_interval:
        if interval is None:
            raise UsageError(
                f"{spec.name} needs an interval; choose one of: {', '.join(i.value for i in allowed)}"
            )
        chosen = interval if isinstance(interval, Interval) else parse_interval(interval)
        if chosen not in allowed:
            raise UsageError(
                f"interval {chosen.value} does not exist in market {market.value}; "
                f"choose one of: {', '.join(i.value for i in allowed)}"
            )
        return chosen
    if interval is not None:
        raise UsageError(f"{spec.name} has no interval; leave interval out")
    return None


def parse_columns(spec: DatasetSpec, market: Market, columns: Iterable[str] | str | None) -> tuple[str, ...]:
    """Requested columns in lake order, the time column always included first."""
    names = tuple(spec.schema(market).names)
    if columns is None:
        return names
    wanted = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    unknown = [c for c in wanted if c not in names and c != "symbol"]
    if unknown:
        raise UsageError(
            f"unknown column(s) {', '.join(map(repr, unknown))} for {spec.name}; "
            f"columns are: {', '.join(names)}"
        )
    keep = {spec.time_column, *wanted}
    return tuple(n for n in names if n in keep)


def parse_range(start: DateLike, end: DateLike | None) -> TimeRange:
    """The DESIGN.md range rule (dates: whole days inclusive; timestamps: half-open) with typed errors."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and not isinstance(value, str | dt.date):
            raise UsageError(f"{name} must be a date or time such as '2024-01-31', not {value!r}")
    return resolve_range(start, end)


def build_request(
    dataset: str,
    symbols: SymbolsArg,
    start: DateLike,
    end: DateLike | None = None,
    *,
    market: str | Market = "um",
    interval: str | Interval | None = None,
    columns: Iterable[str] | str | None = None,
) -> LoadRequest:
    """Validate everything a load needs; the first problem found is raised as a `UsageError`."""
    if not isinstance(dataset, str):
        raise UsageError("dataset must be a name such as 'klines'")
    spec = get_dataset(dataset)
    chosen_market = parse_market_for(spec, market)
    chosen_interval = parse_interval_for(spec, chosen_market, interval)
    return LoadRequest(
        spec=spec,
        market=chosen_market,
        interval=chosen_interval,
        symbols=parse_symbols(symbols, chosen_market),
        range=parse_range(start, end),
        columns=parse_columns(spec, chosen_market, columns),
    )
