"""The REST side of `check`'s gaps: whether Binance's REST serves the bars the archive lacks.

quality/ reads the lake and never the network (an import-linter contract), so its `RestProbe` hook is
implemented here, above it: `RestKlinesProbe` asks the shared REST client (`binance/rest_market.py`, one weight
budget per host, with `binance/rest_klines.py`'s `fetch_klines`) for the bars of each `upstream` gap (bars
missing on a held day's grid) and each `missing-file` gap (whole days without an archive file) of the kline
family, and answers one boolean a gap: True when REST has at least one bar in it. Datasets REST has no kline
endpoint for (trades, metrics, ...) and gaps beyond `max_gaps` answer None ("not asked"), and so does a gap
whose request failed: a check never fails because REST did.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable

import pyarrow as pa

from binance_lake.binance.clients import Clients
from binance_lake.binance.rest_klines import fetch_klines
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.facade.loop import run_online

KLINE_FAMILY = frozenset({"klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"})
MAX_GAPS = 500
"""Gaps asked about in one check at most (each costs a request or a few): the rest answer None."""
DAY = dt.timedelta(days=1)


def _window(row: dict[str, object]) -> tuple[int, int]:
    """The open times [first, last] in ms a gap row covers: its missing bars, or its whole days."""
    start, end = row.get("start_time"), row.get("end_time")
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        return to_millis(start), to_millis(end)
    first, last = row["first_day"], row["last_day"]
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    lo = dt.datetime.combine(first, dt.time(), dt.UTC)
    hi = dt.datetime.combine(last + DAY, dt.time(), dt.UTC)
    return to_millis(lo), to_millis(hi) - 1


def _series(row: dict[str, object]) -> SeriesKey | None:
    dataset, interval = str(row["dataset"]), row.get("interval")
    if dataset not in KLINE_FAMILY or not interval:
        return None
    market = Market(str(row["market"]))
    if market is Market.SPOT and dataset != "klines":
        return None
    return SeriesKey(market, dataset, Interval(str(interval)), str(row["symbol"]))


class RestKlinesProbe:
    """A `quality.gaps.RestProbe` over the shared REST client (see the module docstring)."""

    def __init__(
        self, settings: Settings, *, weight_share: float = 0.5, concurrency: int = 4, max_gaps: int = MAX_GAPS
    ) -> None:
        self.settings = settings
        self.weight_share = weight_share
        self.concurrency = concurrency
        self.max_gaps = max_gaps
        self.requests = 0  # REST requests sent by the last call
        self.weight = 0  # their documented weight

    def __call__(self, gaps: pa.Table) -> list[bool | None]:
        rows = gaps.to_pylist()
        asked = [(i, key) for i, row in enumerate(rows) if (key := _series(row)) is not None][: self.max_gaps]
        answers: list[bool | None] = [None] * len(rows)
        if not asked:
            return answers

        async def one(rest: MarketRestClient, i: int, key: SeriesKey) -> None:
            start_ms, end_ms = _window(rows[i])
            try:
                bars = await fetch_klines(rest, key, start_ms, end_ms)
            except BinanceLakeError:
                return  # not known: the gap keeps "REST not asked"
            answers[i] = bars.num_rows > 0

        def work(clients: Clients) -> Awaitable[None]:
            rest = MarketRestClient(
                clients.session, self.settings, share=self.weight_share, concurrency=self.concurrency
            )

            async def all_of() -> None:
                try:
                    await asyncio.gather(*(one(rest, i, key) for i, key in asked))
                finally:
                    self.requests, self.weight = rest.requests, rest.weight

            return all_of()

        run_online(self.settings, work, concurrency=self.concurrency)
        return answers
