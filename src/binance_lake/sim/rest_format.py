"""JSON shaping for the simulated REST APIs: number text, kline arrays, funding and statistics objects,
error bodies. Pure: no I/O.

Numbers from the ground truth are written as the archive CSV writes them (reference §2.1): fixed decimals per
column, the same decimals `sim.content.decimals` gives the archive renderer, so a REST answer and the archive
file carry the same text and parse to equal values.
Key orders follow real captures where the reference has one (e.g. fundingRate's 2026 order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JsonObject = dict[str, Any]


def archive_text(value: float, decimals: int) -> str:
    """A float as the archive CSV prints it: exactly `decimals` decimals, from its rounded integer units
    (the method of `sim.render`, so REST and archive text are the same characters)."""
    units = round(value * 10.0**decimals)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}" if decimals == 0 else f"{sign}{whole}.{frac:0{decimals}d}"


def fixed(value: float, decimals: int) -> str:
    """Fixed-decimals text, as REST prints derived figures (`"0.6276"`, `"85718.55362319"`)."""
    return f"{value:.{decimals}f}"


def kline_array(row: Mapping[str, Any], decimals: Mapping[str, int], time_divisor: int) -> list[Any]:
    """One kline as the 12-element REST array: numbers as strings except open/close time and count.

    `row` holds the lake columns with times as integer microseconds, `decimals` the archive's decimals
    per column (`sim.content.decimals`); `time_divisor` is 1000 for
    millisecond output and 1 for microsecond output (spot `timeUnit=MICROSECOND`). The 12th field is
    Binance's unused `ignore`, always `"0"` on REST.
    """

    def num(name: str) -> str:
        return archive_text(float(row[name]), decimals.get(name, 8))

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


def funding_object(symbol: str, funding_time_ms: int, rate_text: str, mark_price: float | None) -> JsonObject:
    """A fundingRate record in the 2026 key order `symbol, fundingTime, fundingRate, markPrice, rateType`.

    The rate keeps the archive's text so it reads back equal; markPrice has REST's 8 decimals and is `""`
    when no mark price is known at that time (old records on the real API look the same).
    """
    return {
        "symbol": symbol,
        "fundingTime": funding_time_ms,
        "fundingRate": rate_text,
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
