"""Fill a stream's hole from REST: klines by time, aggTrades by id (`fromId`), through the shared REST client.

One narrow interface, `RestRepair.fetch(series, after) → rows`: `after` is the last stored open time (ms) for
klines, the last stored aggregate-trade id for aggTrades; the answer is every later row REST has now, in lake
rows (`events`' shapes). The requests go through `binance.rest_market.MarketRestClient` — the same weight
budget per host, 429 pause and 418 ban handling, and retries as `update`'s REST fill — with `fetch_klines`
(asked only up to the last closed bar's open time, so an open bar is never stored) and `fetch_agg_trades`.
A hole longer than `MAX_PAGES` pages is left for `sync`/`update` to fill (bounded work per reconnect).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from binance_lake.binance.rest_klines import KLINE_PAGE, fetch_klines
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.binance.rest_trades import fetch_agg_trades
from binance_lake.core.errors import UsageError
from binance_lake.core.series_key import SeriesKey

MAX_PAGES = 1000


class RestRepair:
    """REST fetches for hole repair over a `MarketRestClient` (its session and budgets are the caller's)."""

    def __init__(self, client: MarketRestClient, *, now_ms: Callable[[], int] | None = None) -> None:
        self.client = client
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))

    @property
    def requests(self) -> int:
        return self.client.requests

    async def fetch(self, series: SeriesKey, after: int) -> list[dict[str, Any]]:
        if series.dataset == "klines":
            return await self.klines(series, after)
        if series.dataset == "aggTrades":
            return await self.agg_trades(series, after)
        raise UsageError(f"{series.dataset} has no REST repair (klines and aggTrades do)")

    async def klines(self, series: SeriesKey, after_open_ms: int) -> list[dict[str, Any]]:
        assert series.interval is not None
        step = series.interval.milliseconds
        start = after_open_ms + step
        # The last closed bar opened at least one interval ago (REST's endTime is inclusive on open time and
        # the real API returns the open bar too, core/quirks.py KLINE_END_TIME_IS_OPEN_TIME).
        end = min(self.now_ms() - step, start + MAX_PAGES * KLINE_PAGE * step - 1)
        if end < start:
            return []
        table = await fetch_klines(self.client, series, start, end)
        return table.to_pylist()

    async def agg_trades(self, series: SeriesKey, after_id: int) -> list[dict[str, Any]]:
        table = await fetch_agg_trades(
            self.client, series.market, series.symbol, after_id, max_pages=MAX_PAGES
        )
        return table.to_pylist()
