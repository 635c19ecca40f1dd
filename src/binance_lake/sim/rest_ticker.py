"""The simulated `GET /fapi/v1/ticker/24hr`, `/dapi/v1/ticker/24hr` and `/api/v3/ticker/24hr`: 24-hour rolling
statistics per symbol, from the same bars the simulator's klines and archive serve.

The real window rolls by the minute; the simulator's is the last 24 closed hourly bars, so a ticker's
`quoteVolume` is exactly the sum of `quote_volume` over the 1h klines REST serves for those hours (ground
truth a test can check). dapi answers `baseVolume` instead of `quoteVolume` (its klines' `quote_volume` slot
holds base-asset volume, issue #267) and adds `pair`. Without `symbol` every symbol with a bar in the window is
answered (weight 40 on fapi and dapi, 80 on spot; 1 and 2 with a symbol: reference §4.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from binance_lake.core import quirks
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.rest_format import JsonObject, archive_text
from binance_lake.sim.rest_series import US_PER_MS, Row
from binance_lake.sim.universe import SimSymbol

WINDOW_BARS = 24
HOURLY = Interval.H1


def ticker_weight(market: Market, has_symbol: bool) -> int:
    if market is Market.SPOT:
        return 2 if has_symbol else 80
    return 1 if has_symbol else 40


def ticker_object(
    market: Market, symbol: SimSymbol, bars: Sequence[Row], decimals: dict[str, int]
) -> JsonObject | None:
    """One symbol's 24 h statistics over `bars` (its last closed hourly bars, oldest first); None without bars."""
    if not bars:
        return None

    def num(value: float, column: str) -> str:
        return archive_text(value, decimals.get(column, 8))

    first, last = bars[0], bars[-1]
    open_price, close = float(first["open"]), float(last["close"])
    volume = sum(float(b["volume"]) for b in bars)
    quote = sum(float(b["quote_volume"]) for b in bars)
    if market is Market.CM:  # the quote slot holds base volume: weigh each bar's close by it
        weighted = sum(float(b["close"]) * float(b["quote_volume"]) for b in bars) / quote if quote else close
    else:
        weighted = quote / volume if volume else close
    change = close - open_price
    body: dict[str, Any] = {"symbol": symbol.symbol}
    if market is Market.CM:
        body["pair"] = symbol.pair
    body |= {
        "priceChange": num(change, "close"),
        "priceChangePercent": f"{(change / open_price * 100) if open_price else 0.0:.3f}",
        "weightedAvgPrice": num(weighted, "close"),
        "lastPrice": num(close, "close"),
        "openPrice": num(open_price, "open"),
        "highPrice": num(max(float(b["high"]) for b in bars), "high"),
        "lowPrice": num(min(float(b["low"]) for b in bars), "low"),
        "volume": num(volume, "volume"),
    }
    if market is Market.CM:
        body[quirks.CM_TICKER_VOLUME_FIELD] = num(quote, "quote_volume")
    else:
        body["quoteVolume"] = num(quote, "quote_volume")
    body |= {
        "openTime": int(first["open_time"]) // US_PER_MS,
        "closeTime": int(last["close_time"]) // US_PER_MS,
        "count": sum(int(b["count"]) for b in bars),
    }
    return body


def tickers(
    market: Market,
    symbols: Sequence[SimSymbol],
    bars_of: Callable[[SimSymbol], Sequence[Row]],
    decimals_of: Callable[[SimSymbol], dict[str, int]],
) -> list[JsonObject]:
    """The ticker of each symbol that has bars in the window, in the order given."""
    found = (ticker_object(market, s, bars_of(s), decimals_of(s)) for s in symbols)
    return [t for t in found if t is not None]
