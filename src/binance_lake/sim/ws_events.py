"""The simulator's WebSocket payloads, generated from the same ground truth as the archive and REST.

Pure: no I/O. A `StreamSource` per stream name (`btcusdt@aggTrade`, `btcusdt@kline_1m`, `btcusdt@markPrice@1s`,
`btcusdt@forceOrder`, `!forceOrder@arr`) hands out the events whose event time falls in `(after, until]` in
milliseconds, as `(event_time_ms, payload)` pairs in time order, so a connection replays the universe's day
exactly: aggTrades are the day table's rows; a kline stream sends the bar's open updates (`x: false`, at most
one per call, its close between open and the final close) and then the closed bar (`x: true`), equal to the
archive's bar; markPrice ticks every 1 s (or 3 s) from the mark/index 1m bars and the next funding row;
forceOrder sends the liquidation rows (`ps`/`st` on UM from `quirks.UM_FORCE_ORDER_PS_ST_FROM`, `ps` on CM).
`liquidation_payloads` gives a day's forceOrder payloads for tests to compare against.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim import content
from binance_lake.sim.rest_format import archive_text
from binance_lake.sim.universe import SimSymbol, Universe

DAY_MS = 86_400_000
Event = tuple[int, dict[str, Any]]


def _ms(column: Any) -> np.ndarray:
    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False) // 1000, dtype=np.int64)


def _day(ms: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ms // DAY_MS)


def _days(after: int, until: int) -> list[dt.date]:
    first, last = _day(max(after, 0)), _day(max(until, 0))
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


class StreamSource:
    """Events of one stream name; `events(after, until)` returns those with event time in (after, until]."""

    def events(self, after: int, until: int) -> list[Event]:
        raise NotImplementedError


class _DayCached(StreamSource):
    """A source reading one day table at a time, kept while the stream is on that day."""

    def __init__(self, universe: Universe, market: Market, symbol: SimSymbol) -> None:
        self.universe = universe
        self.market = market
        self.symbol = symbol
        self._cache: dict[dt.date, Any] = {}

    def day(self, day: dt.date) -> Any:
        if day not in self._cache:
            if len(self._cache) > 2:
                self._cache.pop(min(self._cache))
            self._cache[day] = self.load(day)
        return self._cache[day]

    def load(self, day: dt.date) -> Any:
        raise NotImplementedError


class AggTradeSource(_DayCached):
    def load(self, day: dt.date) -> tuple[np.ndarray, dict[str, list[Any]]]:
        # Columns as Python lists; payloads are built only for the rows a call sends (a busy day holds 10^5).
        table = self.universe.day_table(self.market, "aggTrades", self.symbol.symbol, None, day)
        times = _ms(table["transact_time"])
        columns = {
            name: table[name].to_pylist()
            for name in (
                "agg_trade_id",
                "price",
                "quantity",
                "first_trade_id",
                "last_trade_id",
                "is_buyer_maker",
            )
        }
        return times, columns

    def events(self, after: int, until: int) -> list[Event]:
        dec = content.decimals(self.universe, self.market, "aggTrades", self.symbol.symbol)
        out: list[Event] = []
        for day in _days(after, until):
            times, c = self.day(day)
            lo, hi = np.searchsorted(times, [after, until], side="right")
            for k in range(int(lo), int(hi)):
                time = int(times[k])
                out.append(
                    (
                        time,
                        {
                            "e": "aggTrade", "E": time, "s": self.symbol.symbol, "a": c["agg_trade_id"][k],
                            "p": archive_text(c["price"][k], dec["price"]),
                            "q": archive_text(c["quantity"][k], dec["qty"]), "f": c["first_trade_id"][k],
                            "l": c["last_trade_id"][k], "T": time, "m": c["is_buyer_maker"][k],
                        },
                    )
                )  # fmt: skip
        return out


class KlineSource(_DayCached):
    UPDATE_MS = 250
    """Binance pushes a kline's open updates every 250 ms."""

    def __init__(self, universe: Universe, market: Market, symbol: SimSymbol, interval: Interval) -> None:
        super().__init__(universe, market, symbol)
        self.interval = interval
        self._last_update = 0

    def load(self, day: dt.date) -> tuple[np.ndarray, list[dict[str, Any]]]:
        table = self.universe.day_table(self.market, "klines", self.symbol.symbol, self.interval, day)
        opens = _ms(table["open_time"])
        return opens, table.to_pylist()

    def _payload(self, row: dict[str, Any], open_ms: int, at: int, closed: bool) -> dict[str, Any]:
        dec = content.decimals(self.universe, self.market, "klines", self.symbol.symbol)
        step = self.interval.milliseconds
        share = 1.0 if closed else min(max((at - open_ms) / step, 0.0), 1.0)
        o, c = row["open"], row["close"]
        close = c if closed else o + (c - o) * share
        high, low = (row["high"], row["low"]) if closed else (max(o, close), min(o, close))

        def num(name: str, value: float) -> str:
            return archive_text(value if closed else value * share, dec[name])

        return {
            "e": "kline", "E": at, "s": self.symbol.symbol,
            "k": {
                "t": open_ms, "T": open_ms + step - 1, "s": self.symbol.symbol, "i": self.interval.value,
                "f": 0, "L": 0, "o": archive_text(o, dec["open"]), "c": archive_text(close, dec["close"]),
                "h": archive_text(high, dec["high"]), "l": archive_text(low, dec["low"]),
                "v": num("volume", row["volume"]), "n": row["count"] if closed else int(row["count"] * share),
                "x": closed, "q": num("quote_volume", row["quote_volume"]),
                "V": num("taker_buy_volume", row["taker_buy_volume"]),
                "Q": num("taker_buy_quote_volume", row["taker_buy_quote_volume"]), "B": "0",
            },
        }  # fmt: skip

    def events(self, after: int, until: int) -> list[Event]:
        step = self.interval.milliseconds
        out: list[Event] = []
        for day in _days(after - step, until):
            opens, rows = self.day(day)
            # A bar closes (its x:true event) at open + step; those closing in (after, until] are sent.
            lo, hi = np.searchsorted(opens + step, [after, until], side="right")
            out.extend((int(opens[k]) + step, self._payload(rows[k], int(opens[k]), int(opens[k]) + step, True))
                       for k in range(lo, hi))  # fmt: skip
        # One update of the bar still open at `until` (Binance sends one every 250 ms; a call sends the latest).
        opens, rows = self.day(_day(until))
        k = int(np.searchsorted(opens, until, side="right")) - 1
        due = until - self._last_update >= self.UPDATE_MS
        if due and k >= 0 and int(opens[k]) < until < int(opens[k]) + step and until > after:
            self._last_update = until
            out.append((until, self._payload(rows[k], int(opens[k]), until, False)))
        return out


class MarkPriceSource(_DayCached):
    def __init__(self, universe: Universe, market: Market, symbol: SimSymbol, every_ms: int) -> None:
        super().__init__(universe, market, symbol)
        self.every_ms = every_ms

    def load(self, day: dt.date) -> dict[str, Any]:
        name = self.symbol.symbol
        mark = self.universe.day_table(self.market, "markPriceKlines", name, Interval.M1, day)
        index = self.universe.day_table(self.market, "indexPriceKlines", self.symbol.pair, Interval.M1, day)
        funding = [
            self.universe.day_table(self.market, "fundingRate", name, None, d)
            for d in (day, day + dt.timedelta(days=1))
        ]
        calc = np.concatenate([_ms(f["calc_time"]) for f in funding])
        rates = [r for f in funding for r in f["last_funding_rate"].to_pylist()]
        return {
            "mark": (_ms(mark["open_time"]), mark["open"].to_numpy(), mark["close"].to_numpy()),
            "index": (_ms(index["open_time"]), index["open"].to_numpy(), index["close"].to_numpy()),
            "calc": calc,
            "rates": rates,
            "decimals": content.decimals(self.universe, self.market, "markPriceKlines", name)["open"],
        }

    @staticmethod
    def _at(bars: tuple[np.ndarray, np.ndarray, np.ndarray], at: int) -> float | None:
        opens, first, last = bars
        k = int(np.searchsorted(opens, at, side="right")) - 1
        if k < 0 or at >= int(opens[k]) + 60_000:
            return None
        share = (at - int(opens[k])) / 60_000
        return float(first[k] + (last[k] - first[k]) * share)

    def events(self, after: int, until: int) -> list[Event]:
        out: list[Event] = []
        start = (after // self.every_ms + 1) * self.every_ms
        for at in range(start, until + 1, self.every_ms):
            data = self.day(_day(at))
            mark, index = self._at(data["mark"], at), self._at(data["index"], at)
            if mark is None or index is None:
                continue
            dec = data["decimals"]
            rate, next_time = "", 0
            if not self.symbol.is_delivery:
                k = int(np.searchsorted(data["calc"], at, side="right"))
                if k < len(data["calc"]):
                    rate = archive_text(data["rates"][k], 8)
                    next_time = int(data["calc"][k]) // 3_600_000 * 3_600_000
            out.append(
                (
                    at,
                    {
                        "e": "markPriceUpdate", "E": at, "s": self.symbol.symbol,
                        "p": archive_text(mark, dec), "i": archive_text(index, dec + 3),
                        "P": archive_text(index, dec + 3), "r": rate, "T": next_time,
                    },
                )
            )  # fmt: skip
        return out


def liquidation_payloads(universe: Universe, market: Market, symbol: SimSymbol, day: dt.date) -> list[Event]:
    """The forceOrder events of one symbol and day, from the liquidation ground truth."""
    table = universe.day_table(market, "liquidationSnapshot", symbol.symbol, None, day)
    dec = content.decimals(universe, market, "liquidationSnapshot", symbol.symbol)
    times = _ms(table["time"]).tolist()
    out: list[Event] = []
    for k, row in enumerate(table.to_pylist()):
        order: dict[str, Any] = {
            "s": symbol.symbol, "S": row["side"], "o": row["order_type"], "f": row["time_in_force"],
            "q": archive_text(row["original_quantity"], dec["original_quantity"]),
            "p": archive_text(row["price"], dec["price"]), "ap": archive_text(row["average_price"], dec["price"]),
            "X": row["order_status"], "l": archive_text(row["last_fill_quantity"], dec["original_quantity"]),
            "z": archive_text(row["accumulated_fill_quantity"], dec["original_quantity"]), "T": times[k],
        }  # fmt: skip
        if market is Market.CM:
            order["ps"] = symbol.pair
        elif day >= quirks.UM_FORCE_ORDER_PS_ST_FROM:
            order["ps"] = symbol.pair
            order["st"] = 1
        # The event is pushed a few ms after the order's time.
        out.append((times[k] + 3, {"e": "forceOrder", "E": times[k] + 3, "o": order}))
    return out


class ForceOrderSource(StreamSource):
    """One symbol's liquidations, or (symbols=None) every symbol's of the market (`!forceOrder@arr`)."""

    def __init__(self, universe: Universe, market: Market, symbols: list[SimSymbol] | None) -> None:
        self.universe = universe
        self.market = market
        self.symbols = symbols
        self._days: dict[dt.date, tuple[np.ndarray, list[dict[str, Any]]]] = {}

    def _load(self, day: dt.date) -> tuple[np.ndarray, list[dict[str, Any]]]:
        if day not in self._days:
            if len(self._days) > 2:
                self._days.pop(min(self._days))
            members = self.symbols
            if members is None:
                members = [s for s in self.universe.symbols(self.market) if s.active_on(day)]
            events = sorted(
                (e for s in members if s.active_on(day) for e in liquidation_payloads(self.universe, self.market, s, day)),
                key=lambda e: e[0],
            )  # fmt: skip
            self._days[day] = (np.array([e[0] for e in events], dtype=np.int64), [e[1] for e in events])
        return self._days[day]

    def events(self, after: int, until: int) -> list[Event]:
        out: list[Event] = []
        for day in _days(after, until):
            times, rows = self._load(day)
            lo, hi = np.searchsorted(times, [after, until], side="right")
            out.extend((int(times[k]), rows[k]) for k in range(lo, hi))
        return out


MARKET_KINDS = ("aggTrade", "kline", "markPrice", "forceOrder")


def parse_stream(universe: Universe, market: Market, name: str) -> StreamSource | None:
    """The source of a stream name, or None for a name this simulator does not know (nothing is sent)."""
    if name == "!forceOrder@arr":
        return ForceOrderSource(universe, market, None)
    symbol_text, _, channel = name.partition("@")
    if symbol_text != symbol_text.lower():
        return None  # stream names are lowercase
    symbol = universe.symbol(market, symbol_text.upper())
    if symbol is None:
        return None
    makers: dict[str, Callable[[], StreamSource]] = {
        "aggTrade": lambda: AggTradeSource(universe, market, symbol),
        "markPrice": lambda: MarkPriceSource(universe, market, symbol, 3000),
        "markPrice@1s": lambda: MarkPriceSource(universe, market, symbol, 1000),
        "forceOrder": lambda: ForceOrderSource(universe, market, [symbol]),
    }
    if channel in makers:
        return makers[channel]()
    if channel.startswith("kline_"):
        try:
            interval = Interval(channel.removeprefix("kline_"))
        except ValueError:
            return None
        return KlineSource(universe, market, symbol, interval)
    return None
