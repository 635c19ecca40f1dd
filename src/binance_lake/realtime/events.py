"""Stream payloads → typed events and lake rows (reference §5). Pure.

`parse_message` takes one text frame (combined `{"stream", "data"}` or raw), returns a `StreamEvent` or None
for control answers (`{"result": …, "id": …}`) and kinds we do not store; a malformed frame is a `ServerError`.
`StreamEvent.row` is the lake row in the dataset's schema (times as aware datetimes); only a closed kline
(`x: true`) has one — the open updates are events for consumers and Redis, never stored.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from binance_lake.core.errors import ServerError
from binance_lake.core.vocabulary import Interval

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ms_time(value: Any) -> dt.datetime | None:
    """An epoch-milliseconds field as a UTC datetime; 0 or "" (CM delivery `T`) as None."""
    if value in (None, "", 0):
        return None
    return EPOCH + dt.timedelta(milliseconds=int(value))


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


@dataclass(frozen=True)
class StreamEvent:
    """One market event: its stream, kind, symbol, event time (ms) and the raw payload."""

    stream: str
    kind: str  # kline | aggTrade | markPrice | forceOrder
    symbol: str
    event_time: int
    data: dict[str, Any]

    @property
    def dataset(self) -> str:
        return {"kline": "klines", "aggTrade": "aggTrades", "markPrice": "markPrice"}.get(
            self.kind, "liquidations"
        )

    @property
    def interval(self) -> Interval | None:
        return Interval(self.data["k"]["i"]) if self.kind == "kline" else None

    @property
    def closed(self) -> bool:
        return self.kind != "kline" or bool(self.data["k"]["x"])

    def row(self) -> dict[str, Any] | None:
        """The lake row of this event, or None (an open kline)."""
        d = self.data
        if self.kind == "kline":
            k = d["k"]
            if not k["x"]:
                return None
            return {
                "open_time": ms_time(k["t"]), "open": float(k["o"]), "high": float(k["h"]), "low": float(k["l"]),
                "close": float(k["c"]), "volume": float(k["v"]), "close_time": ms_time(k["T"]),
                "quote_volume": float(k["q"]), "count": int(k["n"]), "taker_buy_volume": float(k["V"]),
                "taker_buy_quote_volume": float(k["Q"]),
            }  # fmt: skip
        if self.kind == "aggTrade":
            return agg_trade_row(d)
        if self.kind == "markPrice":
            return {
                "event_time": ms_time(d["E"]), "mark_price": float(d["p"]), "index_price": _float(d.get("i")),
                "estimated_settle_price": _float(d.get("P")), "funding_rate": _float(d.get("r")),
                "next_funding_time": ms_time(d.get("T")),
            }  # fmt: skip
        o = d["o"]
        return {
            "time": ms_time(o["T"]), "event_time": ms_time(d["E"]), "side": o["S"], "order_type": o["o"],
            "time_in_force": o["f"], "original_quantity": float(o["q"]), "price": float(o["p"]),
            "average_price": float(o["ap"]), "order_status": o["X"], "last_fill_quantity": float(o["l"]),
            "accumulated_fill_quantity": float(o["z"]), "pair": o.get("ps"),
            "st": int(o["st"]) if o.get("st") not in (None, "") else None,
        }  # fmt: skip


def agg_trade_row(d: dict[str, Any]) -> dict[str, Any]:
    """An aggTrade (stream payload or REST object: the same fields) as a lake row."""
    return {
        "agg_trade_id": int(d["a"]), "price": float(d["p"]), "quantity": float(d["q"]),
        "first_trade_id": int(d["f"]), "last_trade_id": int(d["l"]), "transact_time": ms_time(d["T"]),
        "is_buyer_maker": bool(d["m"]),
    }  # fmt: skip


_KINDS = {
    "kline": "kline",
    "aggTrade": "aggTrade",
    "markPriceUpdate": "markPrice",
    "forceOrder": "forceOrder",
}


def parse_message(text: str | bytes) -> StreamEvent | None:
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ServerError(f"a stream message is not JSON ({error})") from None
    if not isinstance(message, dict):
        raise ServerError("a stream message is not a JSON object")
    if "id" in message and ("result" in message or "code" in message):
        return None
    data = message.get("data", message)
    stream = str(message.get("stream", ""))
    if not isinstance(data, dict):
        raise ServerError(f"stream {stream or '?'} sent a message without an object payload")
    kind = _KINDS.get(str(data.get("e")))
    if kind is None:
        return None
    try:
        symbol = str(data["o"]["s"] if kind == "forceOrder" else data["s"])
        return StreamEvent(stream, kind, symbol, int(data["E"]), data)
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"stream {stream or '?'} sent a {kind} message without {error}") from None
