"""The `/futures/data/*` statistics endpoints (open interest, long/short ratios, taker volume), derived from
the universe's 5-minute `metrics` rows.

REST keeps these for the latest 30 days only (reference §0 row 18), so the window is clipped to
`[now - 30 days, now]` of the simulated clock. A period longer than 5 minutes samples the 5-minute rows on
the period's grid (open interest and the ratios are point-in-time figures). The archive-to-REST mapping
of the ratio columns is the one the reference gives as [UNCERTAIN] (§2.2):
`count_toptrader_long_short_ratio` -> topLongShortAccountRatio, `sum_toptrader_long_short_ratio` ->
topLongShortPositionRatio, `count_long_short_ratio` -> globalLongShortAccountRatio,
`sum_taker_long_short_vol_ratio` -> taker buy/sell ratio. Taker volumes split the kline volume of the
period by that ratio. A row whose source value is blank (CM top-trader ratios, UM blanks: issue #498) is
left out, so such a page can be shorter than `limit`.
Key names and orders follow the real captures of reference §4.2 (UM) and §4.4 (CM).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from binance_lake.core.vocabulary import Interval
from binance_lake.sim.rest_format import JsonObject, archive_text, fixed
from binance_lake.sim.rest_series import (
    US_PER_MS,
    DayTables,
    Row,
    Window,
    collect,
    day_of,
    on_grid,
    to_us,
)
from binance_lake.sim.universe import SimSymbol

STATISTICS_DAYS = 30
METRICS_DECIMALS = 8
US_PER_MINUTE = 60_000_000
DEFAULT_LIMIT = 30
MAX_LIMIT = 500

# metrics column behind each ratio endpoint (reference §2.2, [UNCERTAIN] mapping)
TOP_ACCOUNT = "count_toptrader_long_short_ratio"
TOP_POSITION = "sum_toptrader_long_short_ratio"
GLOBAL_ACCOUNT = "count_long_short_ratio"
TAKER = "sum_taker_long_short_vol_ratio"


@dataclass(frozen=True)
class StatisticsQuery:
    """One `/futures/data/*` request, resolved: the period and the window (already clipped to 30 days)."""

    period_minutes: int
    window: Window

    @classmethod
    def of(
        cls, now: dt.datetime, period_minutes: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> StatisticsQuery:
        now_us = to_us(now)
        window = Window.of(
            None if start_ms is None else start_ms * US_PER_MS,
            None if end_ms is None else end_ms * US_PER_MS,
            limit,
            lo_us=now_us - STATISTICS_DAYS * 86_400_000_000,
            hi_us=now_us,
        )
        return cls(period_minutes, window)

    @property
    def period_us(self) -> int:
        return self.period_minutes * US_PER_MINUTE


def metrics_rows(tables: DayTables, symbol: SimSymbol, query: StatisticsQuery, now: dt.datetime) -> list[Row]:
    """The symbol's metrics rows on the period grid inside the window (times in µs)."""
    last = now.date() if symbol.delisted is None else min(now.date(), symbol.delisted)
    return collect(
        lambda day: tables.get(symbol.market, "metrics", symbol.symbol, None, day),
        "create_time",
        query.window,
        first_day=symbol.listed,
        last_day=last,
        spill_days=1,
        keep=on_grid(query.period_us),
    )


def _merged(
    tables: DayTables, symbols: Sequence[SimSymbol], query: StatisticsQuery, now: dt.datetime
) -> list[tuple[int, list[tuple[SimSymbol, Row]]]]:
    """Rows of several symbols grouped by timestamp, the window's `limit` timestamps, ascending."""
    by_time: dict[int, list[tuple[SimSymbol, Row]]] = {}
    for symbol in symbols:
        for row in metrics_rows(tables, symbol, query, now):
            by_time.setdefault(row["create_time"], []).append((symbol, row))
    times = sorted(by_time)
    times = times[: query.window.limit] if query.window.forward else times[-query.window.limit :]
    return [(t, by_time[t]) for t in times]


def taker_volumes(tables: DayTables, symbol: SimSymbol, start_us: int, period_us: int) -> tuple[float, float]:
    """(volume, quote_volume) of the symbol's 5m klines opening in `[start_us, start_us + period_us)`."""
    volume = quote = 0.0
    end_us = start_us + period_us
    for offset in range((day_of(end_us - 1) - day_of(start_us)).days + 1):
        day = day_of(start_us) + dt.timedelta(days=offset)
        table = tables.get(symbol.market, "klines", symbol.symbol, Interval.M5, day)
        if table.num_rows == 0:
            continue
        times = table.column("open_time").cast(pa.int64()).to_numpy()
        first = int(np.searchsorted(times, start_us, side="left"))
        part = table.slice(first, int(np.searchsorted(times, end_us, side="left")) - first)
        volume += float(np.nansum(part.column("volume").to_numpy(zero_copy_only=False)))
        quote += float(np.nansum(part.column("quote_volume").to_numpy(zero_copy_only=False)))
    return volume, quote


def _shares(ratio: float) -> tuple[str, str]:
    """(long share, short share) of a long/short ratio, at REST's 4 decimals."""
    return fixed(ratio / (1 + ratio), 4), fixed(1 / (1 + ratio), 4)


def circulating_supply(base_asset: str) -> str:
    """A stable made-up `CMCCirculatingSupply` per asset (the archive has no such column)."""
    return fixed(1_000_000 + zlib.crc32(base_asset.encode()) % 999_000_000, 8)


def _text(value: float) -> str:
    """Metrics figures as the archive prints them (8 decimals, `sim.content.decimals`' default)."""
    return archive_text(value, METRICS_DECIMALS)


def _ms(us: int) -> int:
    return us // US_PER_MS


# --- USDⓈ-M (fapi): keyed by symbol -------------------------------------------------------------------


def um_statistics(
    endpoint: str, tables: DayTables, symbol: SimSymbol, query: StatisticsQuery, now: dt.datetime
) -> list[JsonObject]:
    rows = metrics_rows(tables, symbol, query, now)
    shape = _UM_SHAPES[endpoint]
    out: list[JsonObject] = []
    for row in rows:
        obj = shape(tables, symbol, row, query)
        if obj is not None:
            out.append(obj)
    return out


_Shape = Callable[[DayTables, SimSymbol, Row, StatisticsQuery], JsonObject | None]


def _um_open_interest(_t: DayTables, s: SimSymbol, row: Row, _q: StatisticsQuery) -> JsonObject | None:
    if row["sum_open_interest"] is None or row["sum_open_interest_value"] is None:
        return None
    return {
        "symbol": s.symbol,
        "sumOpenInterest": _text(row["sum_open_interest"]),
        "sumOpenInterestValue": _text(row["sum_open_interest_value"]),
        "CMCCirculatingSupply": circulating_supply(s.base_asset),
        "timestamp": _ms(row["create_time"]),
    }


def _um_ratio(column: str, position_order: bool) -> _Shape:
    def shape(_t: DayTables, s: SimSymbol, row: Row, _q: StatisticsQuery) -> JsonObject | None:
        ratio = row[column]
        if ratio is None:
            return None
        long, short = _shares(ratio)
        if position_order:  # the real topLongShortPositionRatio capture orders its keys this way
            return {
                "symbol": s.symbol,
                "longAccount": long,
                "longShortRatio": _text(ratio),
                "shortAccount": short,
                "timestamp": _ms(row["create_time"]),
            }
        return {
            "symbol": s.symbol,
            "longShortRatio": _text(ratio),
            "longAccount": long,
            "shortAccount": short,
            "timestamp": _ms(row["create_time"]),
        }

    return shape


def _um_taker(tables: DayTables, s: SimSymbol, row: Row, q: StatisticsQuery) -> JsonObject | None:
    ratio = row[TAKER]
    if ratio is None:
        return None
    volume, _ = taker_volumes(tables, s, row["create_time"], q.period_us)
    return {
        "buySellRatio": _text(ratio),
        "sellVol": fixed(volume / (1 + ratio), 4),
        "buyVol": fixed(volume * ratio / (1 + ratio), 4),
        "timestamp": _ms(row["create_time"]),
    }


_UM_SHAPES: dict[str, _Shape] = {
    "openInterestHist": _um_open_interest,
    "topLongShortAccountRatio": _um_ratio(TOP_ACCOUNT, position_order=False),
    "topLongShortPositionRatio": _um_ratio(TOP_POSITION, position_order=True),
    "globalLongShortAccountRatio": _um_ratio(GLOBAL_ACCOUNT, position_order=False),
    "takerlongshortRatio": _um_taker,
}
UM_ENDPOINTS: tuple[str, ...] = tuple(_UM_SHAPES)


# --- COIN-M (dapi): keyed by pair (+ contractType) -----------------------------------------------------

CM_CONTRACT_TYPES = ("ALL", "CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL")
CM_ENDPOINTS = (
    "openInterestHist",
    "topLongShortAccountRatio",
    "topLongShortPositionRatio",
    "globalLongShortAccountRatio",
    "takerBuySellVol",
)


def cm_symbols(symbols: Sequence[SimSymbol], pair: str, contract_type: str) -> list[SimSymbol]:
    return [
        s for s in symbols if s.pair == pair and (contract_type == "ALL" or s.contract_type == contract_type)
    ]


def cm_open_interest(
    tables: DayTables,
    symbols: Sequence[SimSymbol],
    pair: str,
    contract_type: str,
    query: StatisticsQuery,
    now: dt.datetime,
) -> list[JsonObject]:
    """Open interest of the pair's contracts of `contract_type`, summed per timestamp."""
    out: list[JsonObject] = []
    for t, group in _merged(tables, symbols, query, now):
        values = [(r["sum_open_interest"], r["sum_open_interest_value"]) for _, r in group]
        if any(a is None or b is None for a, b in values):
            continue
        out.append(
            {
                "contractType": contract_type,
                "sumOpenInterest": _text(sum(a for a, _ in values)),
                "sumOpenInterestValue": _text(sum(b for _, b in values)),
                "pair": pair,
                "timestamp": _ms(t),
            }
        )
    return out


def cm_ratio(
    endpoint: str, tables: DayTables, perpetual: SimSymbol, query: StatisticsQuery, now: dt.datetime
) -> list[JsonObject]:
    """A CM long/short ratio, read from the pair's perpetual (the ratios are per pair on dapi)."""
    column = {
        "topLongShortAccountRatio": TOP_ACCOUNT,
        "topLongShortPositionRatio": TOP_POSITION,
        "globalLongShortAccountRatio": GLOBAL_ACCOUNT,
    }[endpoint]
    out: list[JsonObject] = []
    for row in metrics_rows(tables, perpetual, query, now):
        ratio = row[column]
        if ratio is None:
            continue
        long, short = _shares(ratio)
        ts = _ms(row["create_time"])
        if endpoint == "topLongShortPositionRatio":
            out.append(
                {
                    "shortPosition": short,
                    "longShortRatio": _text(ratio),
                    "longPosition": long,
                    "pair": perpetual.pair,
                    "timestamp": ts,
                }
            )
        else:
            out.append(
                {
                    "pair": perpetual.pair,
                    "longShortRatio": _text(ratio),
                    "longAccount": long,
                    "shortAccount": short,
                    "timestamp": ts,
                }
            )
    return out


def cm_taker(
    tables: DayTables,
    symbols: Sequence[SimSymbol],
    pair: str,
    contract_type: str,
    query: StatisticsQuery,
    now: dt.datetime,
) -> list[JsonObject]:
    """CM taker buy/sell volume: contracts (`Vol`) and base-asset value (`VolValue`) summed over contracts."""
    out: list[JsonObject] = []
    for t, group in _merged(tables, symbols, query, now):
        buy = sell = buy_value = sell_value = 0.0
        complete = True
        for symbol, row in group:
            ratio: Any = row[TAKER]
            if ratio is None:
                complete = False
                break
            volume, base = taker_volumes(tables, symbol, t, query.period_us)
            buy += volume * ratio / (1 + ratio)
            sell += volume / (1 + ratio)
            buy_value += base * ratio / (1 + ratio)
            sell_value += base / (1 + ratio)
        if not complete:
            continue
        out.append(
            {
                "takerBuyVolValue": fixed(buy_value, 8),
                "contractType": contract_type,
                "takerSellVol": fixed(sell, 4),
                "takerSellVolValue": fixed(sell_value, 8),
                "takerBuyVol": fixed(buy, 4),
                "pair": pair,
                "timestamp": _ms(t),
            }
        )
    return out
