"""Test helper: a `MarketRestClient` against the simulator's REST app on loopback, both on one fake clock (so
minutes of rate-limit windows pass in microseconds)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import aiohttp
from aiohttp.test_utils import TestServer

from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import UTC
from binance_lake.sim.rest import rest_app
from binance_lake.sim.rest_weights import RestLimits
from binance_lake.sim.universe import Universe

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class SimRestClient(NamedTuple):
    client: MarketRestClient
    clock: FakeClock
    base: str  # the app's URL, as the client's fapi/dapi endpoint setting
    universe: Universe


@asynccontextmanager
async def sim_rest_client(
    service: str = "fapi", limits: RestLimits | None = None, **client_options: Any
) -> AsyncIterator[SimRestClient]:
    """The simulator's `service` app ("fapi" or "dapi") over the small universe at `NOW`, and a client of it;
    `client_options` go to `MarketRestClient` (share, weight_limit, concurrency, request_buckets…)."""
    clock = FakeClock()
    universe = Universe.build("small", now=NOW)
    app = rest_app(universe, service, limits=limits or RestLimits(), monotonic=clock)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        base = str(server.make_url("")).rstrip("/")
        settings = dataclasses.replace(Settings(), fapi_url=base, dapi_url=base)
        client = MarketRestClient(session, settings, clock=clock, sleep=clock.sleep, **client_options)
        yield SimRestClient(client, clock, base, universe)
