"""REST aggregate trades by id (`fromId`) as Arrow tables in the lake's `aggTrades` columns.

`fetch_agg_trades(client, market, symbol, after_id)` returns every aggregate trade with an id above `after_id`
that the host has now, paging forward by `fromId` (1000 a page, weight 20 each, under the client's weight
budget and 429/418 handling, `core/quirks.py`), at most `max_pages` pages: a longer hole is left to `sync` and
`update`. The REST object has the stream payload's fields (`a p q f l T m`), so a repaired row equals the
streamed one and the archive's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core import quirks
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import ServerError
from binance_lake.core.vocabulary import Market

DEFAULT_MAX_PAGES = 1000


def agg_trades_table(records: Sequence[dict[str, Any]], market: Market) -> pa.Table:
    """REST aggTrades objects as `aggTrades` lake rows (times in ms, as futures REST answers)."""
    schema = get_dataset("aggTrades").schema(market)
    if not records:
        return schema.empty_table()
    try:
        columns: dict[str, Any] = {
            "agg_trade_id": pa.array([int(r["a"]) for r in records], pa.int64()),
            "price": pa.array([float(r["p"]) for r in records], pa.float64()),
            "quantity": pa.array([float(r["q"]) for r in records], pa.float64()),
            "first_trade_id": pa.array([int(r["f"]) for r in records], pa.int64()),
            "last_trade_id": pa.array([int(r["l"]) for r in records], pa.int64()),
            "transact_time": pa.array([int(r["T"]) * 1000 for r in records], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "is_buyer_maker": pa.array([bool(r["m"]) for r in records], pa.bool_()),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"an aggTrades REST answer lacks a field ({error})") from None
    return pa.table([columns[name] for name in schema.names], schema=schema)


async def fetch_agg_trades(
    client: MarketRestClient,
    market: Market,
    symbol: str,
    after_id: int,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> pa.Table:
    """Every aggregate trade of `symbol` with id > `after_id` the host has now (at most `max_pages` pages)."""
    records: list[dict[str, Any]] = []
    next_id = after_id + 1
    for _ in range(max_pages):
        params: dict[str, str | int] = {"symbol": symbol, "fromId": next_id, "limit": quirks.AGG_TRADES_PAGE}
        page = await client.get(market, "/aggTrades", params, weight=quirks.AGG_TRADES_WEIGHT)
        if not isinstance(page, list):
            raise ServerError(f"the aggTrades REST answer for {symbol} is not a list")
        records.extend(page)
        if len(page) < quirks.AGG_TRADES_PAGE:
            break
        next_id = int(page[-1]["a"]) + 1
    return agg_trades_table(records, market)
