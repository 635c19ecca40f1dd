"""The Redis latest-value sink against a real redis-server on a free loopback port (not a mock)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from binance_lake.realtime.collector import Collector
from binance_lake.realtime.events import StreamEvent
from binance_lake.realtime.redis_sink import redis_key
from binance_lake.realtime.request import StreamOptions, build_request
from binance_lake.sim.server import SimServer
from tests.components import require
from tests.realtime.truth import fast_universe

SYMBOLS = ("BTCUSDT", "ETHUSDT")
OPTIONS = StreamOptions(flush_interval=0.3, compact_interval=1.0, silence_timeout=5.0, backoff_initial=0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require(shutil.which("redis-server") is not None, "redis-server", "apt-get install -y redis-server")
    pytest.importorskip("redis")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _hashes(url: str) -> dict[str, dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        out = {}
        for key in client.scan_iter("binance-lake:*"):
            values = client.hgetall(key)
            out[key.decode()] = {k.decode(): json.loads(v) for k, v in values.items()}
            assert 0 < client.ttl(key) <= OPTIONS.redis_ttl
        return out
    finally:
        client.close()


async def _run(collector: Collector, seconds: float, during: Any = None) -> list[StreamEvent]:
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in collector:
            events.append(event)

    async with collector:
        consumer = asyncio.create_task(consume())
        if during is not None:
            await during(collector)
        await collector.run_for(seconds)
    await asyncio.wait_for(consumer, 5)  # every event, up to the last the connections delivered
    return events


def _expected(events: list[StreamEvent]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        fields = latest.setdefault(redis_key("um", e.symbol), {})
        d = e.data
        if e.kind == "aggTrade":
            fields.update(price=d["p"], price_time=d["T"])
        elif e.kind == "kline":
            fields.update(price=d["k"]["c"], price_time=d["E"])
        elif e.kind == "markPrice":
            fields.update(mark=d["p"], index=d["i"], settle=d["P"], funding_rate=d["r"], next_funding_time=d["T"], mark_time=d["E"])  # fmt: skip
        else:
            fields["liquidation"] = {**d["o"], "E": d["E"]}
        fields["updated"] = e.event_time
    return latest


def test_redis_holds_the_last_events(tmp_path: Path, redis_server: RedisServer) -> None:
    with SimServer(fast_universe(SYMBOLS), stream_speed=600) as server:
        request = build_request(
            "um", SYMBOLS, "aggTrade,markPrice@1s,forceOrder", redis_url=redis_server.url, options=OPTIONS
        )
        collector = Collector(server.settings(tmp_path / "lake"), request)
        events = asyncio.run(_run(collector, 3.0))
        assert {e.kind for e in events} >= {"aggTrade", "markPrice", "forceOrder"}
        assert collector.redis.failures == 0
        assert _hashes(redis_server.url) == _expected(events)


def test_redis_stopped_mid_run_the_collector_survives_and_catches_up(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with SimServer(fast_universe(SYMBOLS), stream_speed=60) as server:
        request = build_request(
            "um", SYMBOLS, "aggTrade,markPrice@1s", redis_url=redis_server.url, options=OPTIONS
        )
        log: list[dict[str, object]] = []
        collector = Collector(server.settings(tmp_path / "lake"), request, log=log.append)

        async def outage(c: Collector) -> None:
            await c.run_for(1.0)
            await asyncio.to_thread(redis_server.stop)
            await c.run_for(2.0)
            assert not c.redis.up, "the sink noticed Redis went away"
            messages = c.stats.messages
            await c.run_for(1.0)
            assert c.stats.messages > messages, "the collector kept receiving"
            await asyncio.to_thread(redis_server.start)  # same port, empty server

        events = asyncio.run(_run(collector, 2.5, outage))
        assert collector.redis.up and collector.redis.failures > 0
        hashes = _hashes(redis_server.url)
        expected = _expected(events)
        assert set(hashes) == set(expected)
        for key, fields in expected.items():
            assert hashes[key]["updated"] == fields["updated"], f"caught up with the latest values: {log}"
            assert hashes[key] == fields
