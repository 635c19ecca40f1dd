"""REST aggTrades by id against the simulator's REST app and its limiter: every trade after the id, paged by
`fromId`, equal to the archive's rows, and under the weight budget (weight 20 a page) with no 418."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import aiohttp
import pyarrow.compute as pc
from aiohttp.test_utils import TestServer

from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.binance.rest_trades import fetch_agg_trades
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Market
from binance_lake.sim.rest import rest_app
from binance_lake.sim.rest_weights import RestLimits
from binance_lake.sim.universe import Universe
from tests.binance.test_rest_market_sim import FakeClock

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_agg_trades_after_an_id_equal_the_archive_rows_and_keep_the_budget() -> None:
    universe = Universe.build("small", now=NOW)
    universe = dataclasses.replace(universe, tick_rates={(Market.UM, "BTCUSDT"): 200_000})
    today = universe.day_table(Market.UM, "aggTrades", "BTCUSDT", None, NOW.date())
    upto = today.filter(pc.less_equal(today["transact_time"], NOW))
    assert upto.num_rows > 3000, "enough trades for several pages"
    after = int(upto["agg_trade_id"][upto.num_rows - 3500].as_py())
    truth = upto.filter(pc.greater(upto["agg_trade_id"], after))

    async def go() -> None:
        clock = FakeClock()
        limits = RestLimits(
            weight_per_minute=60, ban_after=0
        )  # 2 pages a minute at share 0.8; any overshoot bans
        app = rest_app(universe, "fapi", limits=limits, monotonic=clock)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            settings = dataclasses.replace(Settings(), fapi_url=str(server.make_url("")).rstrip("/"))
            client = MarketRestClient(session, settings, weight_limit=60, clock=clock, sleep=clock.sleep)
            table = await fetch_agg_trades(client, Market.UM, "BTCUSDT", after)
            assert table.equals(truth)
            assert client.requests == 4 and client.weight == 80
            assert not client.budget(Market.UM).banned
            assert clock.now >= 1000.0 + 60  # it waited for weight to age out rather than overshoot
            assert (
                await fetch_agg_trades(client, Market.UM, "BTCUSDT", int(truth["agg_trade_id"][-1].as_py()))
            ).num_rows == 0

    asyncio.run(go())
