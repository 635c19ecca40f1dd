"""sim/rest_ticker.py: the simulated 24 h tickers agree with the simulator's own hourly klines (the last 24
closed bars), on fapi, dapi and spot, for one symbol and for all; weights as Binance charges them."""

from __future__ import annotations

import math

import pytest

from binance_lake.sim.rest import rest_app
from binance_lake.sim.universe import Universe
from tests.sim.test_rest import _universe, get, serve


@pytest.fixture
def universe() -> Universe:
    return _universe()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("service", "prefix", "symbol", "volume_field"),
    [
        ("fapi", "/fapi/v1", "BTCUSDT", "quoteVolume"),
        ("dapi", "/dapi/v1", "BTCUSD_PERP", "baseVolume"),
        ("spot", "/api/v3", "BTCUSDT", "quoteVolume"),
    ],
)
async def test_ticker_is_the_sum_of_the_last_24_hourly_klines(
    universe: Universe, service: str, prefix: str, symbol: str, volume_field: str
) -> None:
    async with serve(rest_app(universe, service)) as client:
        status, one, headers = await get(client, f"{prefix}/ticker/24hr", symbol=symbol)
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == ("2" if service == "spot" else "1")
        _, bars, _ = await get(client, f"{prefix}/klines", symbol=symbol, interval="1h", limit=24)
        assert len(bars) == 24
        assert one["symbol"] == symbol and (one.get("pair") == "BTCUSD") is (service == "dapi")
        assert math.isclose(float(one[volume_field]), sum(float(b[7]) for b in bars), rel_tol=1e-9)
        assert math.isclose(float(one["volume"]), sum(float(b[5]) for b in bars), rel_tol=1e-9)
        assert (one["openTime"], one["closeTime"]) == (bars[0][0], bars[-1][6])
        assert float(one["openPrice"]) == float(bars[0][1]) and float(one["lastPrice"]) == float(bars[-1][4])
        assert float(one["highPrice"]) == max(float(b[2]) for b in bars)
        assert one["count"] == sum(int(b[8]) for b in bars)
    async with serve(rest_app(universe, service)) as client:  # a fresh host: its weight starts at 0
        status, every, headers = await get(client, f"{prefix}/ticker/24hr")
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == ("80" if service == "spot" else "40")
        assert one in every
        names = [t["symbol"] for t in every]
        assert len(names) == len(set(names)) > 1


@pytest.mark.asyncio
async def test_unknown_symbol_is_binance_s_error(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        status, body, _ = await get(client, "/fapi/v1/ticker/24hr", symbol="NOPEUSDT")
        assert status == 400 and body["code"] == -1121
