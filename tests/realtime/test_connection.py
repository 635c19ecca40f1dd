"""Connections: backoff with jitter, streams spread over connections, paced subscriptions, planned reconnects."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.realtime.collector import Collector
from binance_lake.realtime.connection import backoff_delay
from binance_lake.realtime.request import StreamOptions, build_request
from binance_lake.sim.server import SimServer
from tests.realtime.test_collector import assert_exact
from tests.realtime.truth import fast_universe


@given(st.integers(0, 40), st.integers(0, 2**32))
def test_backoff_grows_to_its_cap_with_jitter(attempt: int, seed: int) -> None:
    options = StreamOptions(backoff_initial=0.5, backoff_max=30.0)
    delay = backoff_delay(attempt, options, random.Random(seed))
    base = min(30.0, 0.5 * 2**attempt)
    assert base / 2 <= delay < base


def test_streams_spread_over_connections_and_subscriptions_stay_under_the_limit(tmp_path: Path) -> None:
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
    options = StreamOptions(max_streams=2, subscribe_batch=1, subscribe_rate=8, flush_interval=0.3)
    # The simulator closes a connection at its 4th message within a second; 8/s pacing spreads 2 of them.
    with SimServer(fast_universe(symbols), stream_speed=60, stream_faults="rate=3") as server:
        request = build_request("um", symbols, "aggTrade,markPrice@1s", options=options)

        async def run() -> Collector:
            async with Collector(server.settings(tmp_path), request) as collector:
                await collector.run_for(2.0)
            return collector

        collector = asyncio.run(run())
        assert len(collector.stats.connections) == 3
        assert all(len(c.streams) <= 2 for c in collector.stats.connections)
        assert server.streams.stats.refused == 0 and collector.stats.reconnects == 0
        assert {name for c in collector.stats.connections for name in c.streams} == set(
            collector.stats.last_event
        )


def test_planned_reconnect_before_the_cut_leaves_no_hole(tmp_path: Path) -> None:
    symbols = ("BTCUSDT", "ETHUSDT")
    options = StreamOptions(max_age=1.2, flush_interval=0.3, compact_interval=1.0)
    with SimServer(fast_universe(symbols), stream_speed=60, stream_faults="life=100") as server:
        request = build_request("um", symbols, "kline_1m,aggTrade", options=options)

        async def run() -> Collector:
            async with Collector(server.settings(tmp_path), request) as collector:
                await collector.run_for(5.0)
            return collector

        collector = asyncio.run(run())
        (connection,) = collector.stats.connections
        assert connection.reconnects >= 3 and connection.last_reason == "planned"
        assert_exact(tmp_path, server, symbols)


def test_pings_are_answered_so_the_server_keeps_the_connection(tmp_path: Path) -> None:
    # The simulator pings every 0.2 s and closes a connection that sent no pong for 1.5 s.
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=60, stream_faults="ping=0.2,pong=1.5") as server:
        request = build_request("um", ["BTCUSDT"], "markPrice@1s", options=StreamOptions(flush_interval=0.5))

        async def run() -> Collector:
            async with Collector(server.settings(tmp_path), request) as collector:
                await collector.run_for(3.0)
            return collector

        collector = asyncio.run(run())
        assert collector.stats.reconnects == 0 and collector.stats.events > 50
