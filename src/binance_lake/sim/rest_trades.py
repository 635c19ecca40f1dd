"""The simulated `GET /fapi/v1/aggTrades` and `/dapi/v1/aggTrades`: aggregate trades by id (`fromId`) or time.

Rows are the universe's aggTrades day tables (the archive's and the streams' ground truth), up to the clock's
now. Binance's rules (reference §4): `limit` default 500, max 1000; `fromId` pages forward from that id;
`startTime`/`endTime` select by trade time (forward from startTime); neither gives the latest trades. The
simulator numbers a symbol's aggregate trades `day_index * per_day + k` (`sim.content`), so the day holding an
id is found without scanning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from binance_lake.core.vocabulary import Market
from binance_lake.sim import content
from binance_lake.sim import rest_params as params_of
from binance_lake.sim.rest_format import JsonObject, archive_text
from binance_lake.sim.universe import SimSymbol, Universe

AGG_DEFAULT_LIMIT = 500
AGG_MAX_LIMIT = 1000
AGG_WEIGHT = 20


def _day_rows(universe: Universe, market: Market, symbol: SimSymbol, day: dt.date) -> pa.Table:
    return universe.day_table(market, "aggTrades", symbol.symbol, None, day)


def agg_trades(
    universe: Universe, market: Market, symbol: SimSymbol, query: Mapping[str, str], now: dt.datetime
) -> list[JsonObject]:
    limit = params_of.limit(query, AGG_DEFAULT_LIMIT, AGG_MAX_LIMIT)
    from_id = params_of.optional_int(query, "fromId")
    start, end = params_of.time_range(query)
    now_ms = int(now.timestamp() * 1000)
    hi_ms = now_ms if end is None else min(end, now_ms)
    per_day = max(universe.tick_rate(market, symbol.symbol) * 2 // 3, 1)
    if from_id is not None:
        day = symbol.listed + dt.timedelta(days=max(from_id - 1, 0) // per_day)
    elif start is not None:
        day = dt.datetime.fromtimestamp(max(start, 0) / 1000, dt.UTC).date()
    else:
        day = now.date()
    last_day = dt.datetime.fromtimestamp(max(hi_ms, 0) / 1000, dt.UTC).date()
    day = max(day, symbol.listed)
    dec = content.decimals(universe, market, "aggTrades", symbol.symbol)
    if from_id is None and start is None:  # the last `limit` trades up to now: walk back from today
        tables: list[pa.Table] = []
        count, walk = 0, last_day
        while count < limit and walk >= symbol.listed:
            table = _upto(_day_rows(universe, market, symbol, walk), hi_ms)
            tables.insert(0, table)
            count += table.num_rows
            walk -= dt.timedelta(days=1)
        combined = pa.concat_tables(tables)
        return _json_rows(combined.slice(max(combined.num_rows - limit, 0)), dec)
    rows: list[JsonObject] = []
    while day <= last_day and len(rows) < limit:
        table = _upto(_day_rows(universe, market, symbol, day), hi_ms)
        if from_id is not None:
            ids = table["agg_trade_id"].to_numpy()
            first = int(np.searchsorted(ids, from_id, side="left"))
        else:
            first = int(np.searchsorted(_ms(table), start or 0, side="left"))
        rows.extend(_json_rows(table.slice(first, limit - len(rows)), dec))
        day += dt.timedelta(days=1)
    return rows


def _ms(table: pa.Table) -> np.ndarray:
    return np.asarray(table["transact_time"].cast(pa.int64()).to_numpy(zero_copy_only=False) // 1000)


def _upto(table: pa.Table, hi_ms: int) -> pa.Table:
    """The rows traded at or before `hi_ms` (a day table is sorted by time)."""
    return table.slice(0, int(np.searchsorted(_ms(table), hi_ms, side="right")))


def _json_rows(table: pa.Table, dec: Mapping[str, int]) -> list[JsonObject]:
    times = _ms(table)
    out: list[dict[str, Any]] = []
    for row, time in zip(table.to_pylist(), times.tolist(), strict=True):
        out.append(
            {
                "a": row["agg_trade_id"],
                "p": archive_text(row["price"], dec["price"]),
                "q": archive_text(row["quantity"], dec["qty"]),
                "f": row["first_trade_id"],
                "l": row["last_trade_id"],
                "T": time,
                "m": row["is_buyer_maker"],
            }
        )
    return out
