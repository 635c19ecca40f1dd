"""The REST market-data client against the simulator's REST app and its limiter (a fake clock shared by both,
so minutes pass in microseconds): never a 418 while it keeps its budget, 429 waited out, 418/451/-1121 as one
sentence; klines paged, the open bar never asked for."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from binance_lake.binance.rest_klines import fetch_funding, fetch_klines
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core.errors import IpBanned, Restricted, UsageError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.rest_weights import RestLimits
from tests.binance.rest_sim_client import FakeClock, sim_rest_client

DAY = dt.date(2026, 11, 18)
BTC_1M = SeriesKey(Market.UM, "klines", Interval.M1, "BTCUSDT")


@asynccontextmanager
async def client_for(
    limits: RestLimits, *, share: float = 0.8, concurrency: int = 8
) -> AsyncIterator[tuple[MarketRestClient, FakeClock, str]]:
    options = dict(share=share, weight_limit=limits.weight_per_minute, concurrency=concurrency)
    async with sim_rest_client("fapi", limits, **options) as sim:
        yield sim.client, sim.clock, sim.base


def test_many_requests_stay_below_budget_and_never_get_banned() -> None:
    async def go() -> None:
        # A tiny limit (60/min) and ban on the first request sent while limited: any overshoot would 418.
        async with client_for(RestLimits(weight_per_minute=60, ban_after=0), share=0.8) as (client, clock, _):
            start = to_millis(day_start(DAY))
            tasks = [
                fetch_klines(client, BTC_1M, start + i * 600_000, start + i * 600_000 + 599_999)
                for i in range(40)
            ]
            tables = await asyncio.gather(*tasks)
            assert all(t.num_rows == 10 for t in tables)
            budget = client.budget(Market.UM)
            assert not budget.banned
            assert budget.peak <= budget.budget == 48
            assert clock.now > 1000.0 + 60  # it had to wait for weight to age out

    asyncio.run(go())


def test_a_429_is_waited_out_and_the_request_goes_on() -> None:
    async def go() -> None:
        async with client_for(RestLimits(weight_per_minute=20, ban_after=5), share=1.0) as (
            client,
            _clock,
            base,
        ):
            # Someone else on this IP spends the whole minute first.
            async with aiohttp.ClientSession() as other:
                for _ in range(20):
                    async with other.get(f"{base}/fapi/v1/ping"):
                        pass
            start = to_millis(day_start(DAY))
            table = await fetch_klines(client, BTC_1M, start, start + 59 * 60_000)
            assert table.num_rows == 60
            assert not client.budget(Market.UM).banned

    asyncio.run(go())


def test_a_418_closes_the_host_and_names_the_ban_end() -> None:
    async def go() -> None:
        async with client_for(RestLimits(weight_per_minute=5, ban_after=0), share=1.0) as (client, _, base):
            async with aiohttp.ClientSession() as other:
                for _ in range(6):  # the 6th is over the limit and, with ban_after=0, bans the IP
                    async with other.get(f"{base}/fapi/v1/ping"):
                        pass
            with pytest.raises(IpBanned, match=r"banned this IP from the host until about \d{4}-"):
                await client.get(Market.UM, "/ping", {}, weight=1)
            sent = client.requests
            with pytest.raises(IpBanned, match="not asked"):
                await client.get(Market.UM, "/ping", {}, weight=1)
            assert client.requests == sent  # nothing more went to the banned host

    asyncio.run(go())


def test_451_is_one_sentence_naming_the_endpoint_setting() -> None:
    async def go() -> None:
        async with client_for(RestLimits(restricted=True)) as (client, _, _base):
            with pytest.raises(Restricted, match="BINANCE_LAKE_FAPI_URL"):
                await client.get(Market.UM, "/ping", {}, weight=1)

    asyncio.run(go())


def test_invalid_symbol_is_one_usage_sentence() -> None:
    async def go() -> None:
        async with client_for(RestLimits()) as (client, _, _base):
            series = SeriesKey(Market.UM, "klines", Interval.H1, "NOPEUSDT")
            with pytest.raises(UsageError, match=r"^NOPEUSDT is not a symbol of .*-1121"):
                await fetch_klines(client, series, 0, 10**12)

    asyncio.run(go())


def test_klines_page_past_1500_and_funding_reads_the_lake_columns() -> None:
    async def go() -> None:
        async with client_for(RestLimits()) as (client, _, _base):
            start = to_millis(day_start(DAY - dt.timedelta(days=1)))
            table = await fetch_klines(client, BTC_1M, start, start + 2 * 86_400_000 - 1)
            assert table.num_rows == 2880  # two pages of 1500 would not fit one: the cursor moved on
            times = table.column("open_time").cast("int64").to_pylist()
            assert times == sorted(set(times))
            assert client.requests == 2
            funding = await fetch_funding(client, Market.UM, "BTCUSDT", start, start + 2 * 86_400_000 - 1)
            assert funding.column_names == ["calc_time", "funding_interval_hours", "last_funding_rate"]
            assert funding.num_rows == 6 and set(funding.column("funding_interval_hours").to_pylist()) == {8}

    asyncio.run(go())
