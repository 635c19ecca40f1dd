"""JSON shaping for the simulated REST APIs: number text, kline arrays, funding and statistics objects,
error bodies. Pure: no I/O.

Numbers are written as the archive CSV writes them (reference §2.1): spot at 8 fixed decimals, futures at the
shortest text that reads back as the same float (the tick-precision text Binance prints, when the universe's
values sit on the tick grid). So parsing a REST answer and parsing the archive file give equal values.
Key orders follow real captures where the reference has one (e.g. fundingRate's 2026 order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from binance_lake.core.vocabulary import Market

JsonObject = dict[str, Any]

# The kline columns of the lake schema, in wire order; the 12th wire field (`ignore`) is not in the lake.
KLINE_FIELDS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def format_number(value: float, market: Market) -> str:
    """A float as the archive CSV of `market` writes it: spot `34151.66000000`, futures `34161.6`."""
    if market is Market.SPOT:
        return f"{value:.8f}"
    return format_shortest(value)


def format_shortest(value: float) -> str:
    """The shortest positional text that reads back as `value` (`0`, `0.00001`, `409953`; never `1e-05`)."""
    text: str = np.format_float_positional(value, unique=True, trim="-")
    return "0" if text == "-0" else text


def fixed(value: float, decimals: int) -> str:
    """Fixed-decimals text, as REST prints derived figures (`"0.6276"`, `"85718.55362319"`)."""
    return f"{value:.{decimals}f}"


def kline_array(row: Mapping[str, Any], market: Market, time_divisor: int) -> list[Any]:
    """One kline as the 12-element REST array: numbers as strings except open/close time and count.

    `row` holds the lake columns with times as integer microseconds; `time_divisor` is 1000 for
    millisecond output and 1 for microsecond output (spot `timeUnit=MICROSECOND`). The 12th field is
    Binance's unused `ignore`, always `"0"` on REST.
    """

    def num(name: str) -> str:
        return format_number(float(row[name]), market)

    return [
        int(row["open_time"]) // time_divisor,
        num("open"),
        num("high"),
        num("low"),
        num("close"),
        num("volume"),
        int(row["close_time"]) // time_divisor,
        num("quote_volume"),
        int(row["count"]),
        num("taker_buy_volume"),
        num("taker_buy_quote_volume"),
        "0",
    ]


def funding_object(symbol: str, funding_time_ms: int, rate: float, mark_price: float | None) -> JsonObject:
    """A fundingRate record in the 2026 key order `symbol, fundingTime, fundingRate, markPrice, rateType`.

    The rate keeps the archive's text so it reads back equal; markPrice has REST's 8 decimals and is `""`
    when no mark price is known at that time (old records on the real API look the same).
    """
    return {
        "symbol": symbol,
        "fundingTime": funding_time_ms,
        "fundingRate": format_shortest(rate),
        "markPrice": "" if mark_price is None else fixed(mark_price, 8),
        "rateType": "Regular",
    }


def error_body(code: int, msg: str) -> JsonObject:
    return {"code": code, "msg": msg}


def too_many_requests_body(ip: str, limit: int) -> JsonObject:
    """The real 429 body (reference §4.1)."""
    return error_body(
        -1003,
        f"Too many requests; current limit of IP({ip}) is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
    )


def banned_body(ip: str, until_ms: int) -> JsonObject:
    """The real 418 body (reference §4.1)."""
    return error_body(
        -1003,
        f"Way too many requests; IP({ip}) banned until {until_ms}. "
        "Please use the websocket for live updates to avoid bans.",
    )


# The body seen from restricted locations (reference §4.1); `code` really is 0.
RESTRICTED_BODY: JsonObject = error_body(
    0,
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received "
    "this message in error.",
)


def rate_limits(weight_per_minute: int) -> list[JsonObject]:
    """exchangeInfo `rateLimits`, in the key order of the fapi doc example (reference §4.1)."""
    return [
        {
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight_per_minute,
            "rateLimitType": "REQUEST_WEIGHT",
        },
        {"interval": "MINUTE", "intervalNum": 1, "limit": 1200, "rateLimitType": "ORDERS"},
    ]
