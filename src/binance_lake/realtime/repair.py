"""Fill a stream's hole from REST: klines by time, aggTrades by id (`fromId`).

One narrow interface, `RestRepair.fetch(series, after) → rows`, over aiohttp against the REST hosts the
settings name: `after` is the last stored open time (ms) for klines, the last stored aggregate-trade id for
aggTrades; the answer is every later row REST has now (closed bars only: REST never returns an unfinished
bar past the clock, and the open one is dropped), in lake rows (`events`' shapes). Kept small on purpose so the
`update` stage's shared REST client (weights, 429/418 handling) can replace the transport later.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Market
from binance_lake.realtime.events import agg_trade_row, ms_time

KLINE_LIMIT = 1500
AGG_LIMIT = 1000
MAX_PAGES = 1000
"""A hole longer than this many pages is left for `sync`/`update` to fill (bounded work per reconnect)."""

_HOSTS = {Market.UM: ("fapi_url", "/fapi/v1"), Market.CM: ("dapi_url", "/dapi/v1")}


def kline_row(item: list[Any]) -> dict[str, Any]:
    return {
        "open_time": ms_time(item[0]), "open": float(item[1]), "high": float(item[2]), "low": float(item[3]),
        "close": float(item[4]), "volume": float(item[5]), "close_time": ms_time(item[6]),
        "quote_volume": float(item[7]), "count": int(item[8]), "taker_buy_volume": float(item[9]),
        "taker_buy_quote_volume": float(item[10]),
    }  # fmt: skip


class RestRepair:
    """REST fetches for hole repair; the session is the caller's."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.requests = 0

    def _url(self, market: Market, endpoint: str) -> str:
        setting, prefix = _HOSTS[market]
        return str(getattr(self.settings, setting)).rstrip("/") + prefix + endpoint

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        self.requests += 1
        try:
            async with self.session.get(url, params=params) as response:
                if response.status != 200:
                    text = (await response.text())[:200]
                    raise ServerError(
                        f"stream repair: {url} answered HTTP {response.status}: {text}", url=url
                    )
                return await response.json(content_type=None)
        except aiohttp.ClientError as error:
            raise ServerError(f"stream repair: {url} failed: {error}", url=url) from None

    async def fetch(self, series: SeriesKey, after: int) -> list[dict[str, Any]]:
        if series.dataset == "klines":
            return await self.klines(series, after)
        if series.dataset == "aggTrades":
            return await self.agg_trades(series, after)
        raise UsageError(f"{series.dataset} has no REST repair (klines and aggTrades do)")

    async def klines(self, series: SeriesKey, after_open_ms: int) -> list[dict[str, Any]]:
        assert series.interval is not None
        step = series.interval.milliseconds
        url = self._url(series.market, "/klines")
        rows: list[dict[str, Any]] = []
        start = after_open_ms + step
        now_ms = int(time.time() * 1000)
        for _ in range(MAX_PAGES):
            params = {
                "symbol": series.symbol,
                "interval": series.interval.value,
                "startTime": str(start),
                "limit": str(KLINE_LIMIT),
            }
            page = await self._get(url, params)
            if not isinstance(page, list):
                raise ServerError(f"stream repair: {url} did not answer a list of klines", url=url)
            # The last bar can still be open on a real server (REST returns it); only closed bars are stored.
            closed = [kline_row(item) for item in page if int(item[6]) < now_ms]
            rows.extend(closed)
            if len(page) < KLINE_LIMIT:
                break
            start = int(page[-1][0]) + step
        return rows

    async def agg_trades(self, series: SeriesKey, after_id: int) -> list[dict[str, Any]]:
        url = self._url(series.market, "/aggTrades")
        rows: list[dict[str, Any]] = []
        next_id = after_id + 1
        for _ in range(MAX_PAGES):
            page = await self._get(
                url, {"symbol": series.symbol, "fromId": str(next_id), "limit": str(AGG_LIMIT)}
            )
            if not isinstance(page, list):
                raise ServerError(f"stream repair: {url} did not answer a list of aggTrades", url=url)
            rows.extend(agg_trade_row(item) for item in page)
            if len(page) < AGG_LIMIT:
                break
            next_id = int(page[-1]["a"]) + 1
        return rows
