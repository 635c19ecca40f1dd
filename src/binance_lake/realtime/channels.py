"""Channel names as the user gives them (`kline_1m,markPrice@1s,aggTrade,forceOrder`) → stream names and the
lake dataset each one's events are stored in. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.core.vocabulary import Interval

KINDS = ("kline", "aggTrade", "markPrice", "forceOrder")
DEFAULT_CHANNELS = "kline_1m,markPrice@1s,aggTrade,forceOrder"


@dataclass(frozen=True)
class Channel:
    """One channel: its kind, the kline interval, and the markPrice speed suffix (`@1s`)."""

    kind: str
    interval: Interval | None = None
    speed: str = ""

    @property
    def text(self) -> str:
        if self.kind == "kline":
            assert self.interval is not None
            return f"kline_{self.interval.value}"
        return self.kind + (f"@{self.speed}" if self.speed else "")

    @property
    def dataset(self) -> str:
        return {"kline": "klines", "aggTrade": "aggTrades", "markPrice": "markPrice"}.get(
            self.kind, "liquidations"
        )

    def stream_name(self, symbol: str) -> str:
        return f"{symbol.lower()}@{self.text}"


def parse_channel(text: str) -> Channel:
    if text.startswith("kline_"):
        try:
            return Channel("kline", Interval(text.removeprefix("kline_")))
        except ValueError:
            raise UsageError(f"unknown kline interval in channel {text!r}") from None
    if text in ("markPrice", "markPrice@1s"):
        return Channel("markPrice", speed=text.partition("@")[2])
    if text in ("aggTrade", "forceOrder"):
        return Channel(text)
    raise UsageError(
        f"unknown channel {text!r}; expected kline_<interval>, markPrice, markPrice@1s, aggTrade or forceOrder"
    )


def parse_channels(text: str) -> tuple[Channel, ...]:
    channels = tuple(dict.fromkeys(parse_channel(part) for part in split_list(text)))
    if not channels:
        raise UsageError(f"no channels given; for example --channels {DEFAULT_CHANNELS}")
    return channels
