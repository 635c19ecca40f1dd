"""Query-parameter reading for the simulated REST APIs, with Binance's error codes and messages.

Pure: no I/O (reads a mapping of query parameters). A bad parameter raises `RestError`, which the REST app
turns into HTTP 400 with the `{"code": ..., "msg": ...}` body Binance sends (reference §4.1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from binance_lake.core.vocabulary import Interval, Market, intervals_for

_INTEGER = re.compile(r"^-?[0-9]{1,20}$")


class RestError(Exception):
    """A request Binance would refuse: HTTP `status` with error `code` and message `msg`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def mandatory_missing(name: str) -> RestError:
    return RestError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def invalid_symbol() -> RestError:
    return RestError(-1121, "Invalid symbol.")


def not_valid(name: str) -> RestError:
    """-1130, as `limit=1501` on klines answers (tracequant probe, reference §4.1)."""
    return RestError(-1130, f"Data sent for parameter '{name}' is not valid.")


def required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name, "").strip()
    if not value:
        raise mandatory_missing(name)
    return value


def optional_int(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not _INTEGER.match(text):
        raise RestError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
        )
    return int(text)


def limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    value = optional_int(query, "limit")
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise not_valid("limit")
    return value


def limit_or_default(query: Mapping[str, str], default: int, maximum: int) -> int:
    """The limit for weighing a request: a bad one still costs the default's weight."""
    try:
        return limit(query, default, maximum)
    except RestError:
        return default


def time_range(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(`startTime`, `endTime`) as sent; start after end is Binance's -1023."""
    start, end = optional_int(query, "startTime"), optional_int(query, "endTime")
    if start is not None and end is not None and start > end:
        raise RestError(-1023, "Start time is greater than end time.")
    return start, end


def interval(query: Mapping[str, str], market: Market) -> Interval:
    """A REST interval name (`1m` ... `1M`; `1s` on spot only). Unknown -> -1120."""
    name = required(query, "interval")
    for candidate in intervals_for(market):
        if candidate.rest_name == name:
            return candidate
    raise RestError(-1120, "Invalid interval.")


STATISTICS_PERIODS: Mapping[str, int] = {
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "12h": 720,
    "1d": 1440,
}


def period_minutes(query: Mapping[str, str]) -> int:
    """A `/futures/data/*` period (reference §0 row 18), in minutes."""
    name = required(query, "period")
    minutes = STATISTICS_PERIODS.get(name)
    if minutes is None:
        raise not_valid("period")
    return minutes
