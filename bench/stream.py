"""Benchmark: the stream collector's sustained events/s, CPU and RSS, and its latencies, for 200 and 1000 streams.

The simulator runs in its own process (`binance-lake sim serve --universe large`, ~1050 UM perpetuals) with its
clock set to the wall clock and moving at real speed, so an event's time `E` is when the simulator made it. This
process runs `Collector` over N symbols × (aggTrade, markPrice@1s, kline_1m, forceOrder) — 50 symbols for 200
streams (one connection), 250 for 1000 (five connections) — with Redis when `redis-server` is installed (a
private one on a free port). After `--warmup` seconds (the simulator generates each symbol's day on first use)
it measures `--seconds`: events/s, this process's CPU share and peak RSS, and the latency from `E` to durable
in a flushed segment (the flush interval is 1 s) and to Redis, p50/p99, beside the latency to its arrival here
(which includes the simulator's own lag when it cannot keep up); and, to separate the collector from the
simulator, the same two latencies counted from the event's arrival in this process (aggTrades for disk).

    .venv/bin/python bench/stream.py [--seconds 20] [--warmup 15] [--streams 200,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from binance_lake.core.settings import ENV_NAMES, Settings
from binance_lake.core.vocabulary import Market
from binance_lake.realtime import collector as collector_module
from binance_lake.realtime.collector import Collector
from binance_lake.realtime.request import StreamOptions, build_request
from binance_lake.sim.universe import Universe
from simprocess import start_simulator

CHANNELS = "aggTrade,markPrice@1s,kline_1m,forceOrder"
TIME_COLUMNS = {"aggTrades": "transact_time", "markPrice": "event_time", "liquidations": "event_time"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis(directory: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    if shutil.which("redis-server") is None:
        return None, None
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return process, f"redis://127.0.0.1:{port}/0"


def _align_clock(archive_url: str) -> None:
    """Set the simulator's clock to the wall clock (its start-up left it behind), so E is when it sent."""
    now = dt.datetime.now(dt.UTC).isoformat()
    request = urllib.request.Request(
        f"{archive_url}/__sim__/clock?now={urllib.parse.quote(now)}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p99 = np.percentile(np.array(values), [50, 99])
    return f"{p50:.0f} / {p99:.0f}"


class Probe:
    """Times events through the collector: wraps its segment write, its parser and its Redis sink."""

    def __init__(self) -> None:
        self.measuring = False
        self.disk: list[float] = []  # E → durable
        self.disk_local: list[float] = []  # arrival here → durable (aggTrades)
        self.received: list[float] = []  # E → arrival here
        self.redis_local: list[float] = []  # arrival here → in Redis
        self._arrived: dict[int, float] = {}  # aggTrade id → arrival here (ms)
        self._latest: dict[str, float] = {}  # Redis key → arrival of its latest event

    def install(self, collector: Collector) -> None:
        write, parse = collector.writer.write, collector_module.parse_message

        def timed_write(pending: Any) -> int:
            rows = write(pending)
            now_ms = time.time() * 1000
            for series, batch in pending.items() if self.measuring else ():
                column = TIME_COLUMNS.get(series.dataset)
                if column is not None:
                    self.disk.extend(now_ms - r[column].timestamp() * 1000 for r in batch)
                if series.dataset == "aggTrades":
                    self.disk_local.extend(
                        now_ms - self._arrived.pop(r["agg_trade_id"], now_ms) for r in batch
                    )
            return rows

        def timed_parse(text: str | bytes) -> Any:
            event = parse(text)
            if event is not None and self.measuring:
                now_ms = time.time() * 1000
                self.received.append(now_ms - event.event_time)
                if event.kind == "aggTrade":
                    self._arrived[int(event.data["a"])] = now_ms
            return event

        collector.writer.write = timed_write  # type: ignore[method-assign]
        collector_module.parse_message = timed_parse  # type: ignore[assignment]

    def install_redis(self, collector: Collector) -> None:
        # Each Redis write's keys timed from when their latest event arrived here (not from its E).
        sink = collector.redis
        offer, write_pipe = sink.offer, sink._write

        def timed_offer(event: Any) -> None:
            offer(event)
            self._latest[f"binance-lake:um:{event.symbol}"] = time.time() * 1000

        async def timed_write_pipe(pending: Any, times: Any) -> None:
            sent = [self._latest.get(key) for key in pending]
            await write_pipe(pending, times)
            now_ms = time.time() * 1000
            if self.measuring:
                self.redis_local.extend(now_ms - t for t in sent if t is not None)

        sink.offer, sink._write = timed_offer, timed_write_pipe


async def _measure(
    settings: Settings, symbols: list[str], redis_url: str | None, warmup: float, seconds: float
) -> dict[str, Any]:
    options = StreamOptions(flush_interval=1.0, compact_interval=3600, silence_timeout=60)
    request = build_request("um", symbols, CHANNELS, redis_url=redis_url, options=options)
    collector = Collector(settings, request)
    probe = Probe()
    probe.install(collector)
    async with collector:
        if collector.redis is not None:
            probe.install_redis(collector)
        await collector.run_for(warmup)
        await asyncio.to_thread(_align_clock, settings.archive_url)
        await collector.run_for(1.0)
        if collector.redis is not None:
            collector.redis.latencies_ms.clear()
        collector.stats.flush_latency_ms.clear()
        events0, cpu0, wall0 = collector.stats.events, time.process_time(), time.monotonic()
        probe.measuring = True
        await collector.run_for(seconds)
        events1, cpu1, wall1 = collector.stats.events, time.process_time(), time.monotonic()
        probe.measuring = False
        redis_latency = list(collector.redis.latencies_ms) if collector.redis is not None else []
        flushes = list(collector.stats.flush_latency_ms)
        connections = len(collector.stats.connections)
        reconnects = collector.stats.reconnects
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "streams": collector.stats.streams, "connections": connections, "reconnects": reconnects,
        "events_per_s": (events1 - events0) / (wall1 - wall0), "cpu": (cpu1 - cpu0) / (wall1 - wall0),
        "rss_mb": rss, "received": _percentiles(probe.received), "disk": _percentiles(probe.disk),
        "redis": _percentiles(redis_latency), "disk_local": _percentiles(probe.disk_local),
        "redis_local": _percentiles(probe.redis_local), "flush": _percentiles(flushes),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--streams", default="200,1000")
    args = parser.parse_args()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    universe = Universe.build("large", now=now)
    perpetuals = [
        s.symbol
        for s in universe.symbols(Market.UM)
        if s.contract_type == "PERPETUAL" and s.active_on(now.date())
    ]
    server, env = start_simulator("large", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"), "--stream-speed", "1")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            redis_process, redis_url = _redis(Path(scratch))
            try:
                for count in (int(x) for x in args.streams.split(",")):
                    root = Path(scratch) / f"lake{count}"
                    values = {name: env[var] for name, var in ENV_NAMES.items() if var in env}
                    settings = dataclasses.replace(Settings(), **values, root=root)
                    symbols = perpetuals[: count // 4]
                    rows.append(
                        asyncio.run(_measure(settings, symbols, redis_url, args.warmup, args.seconds))
                    )
            finally:
                if redis_process is not None:
                    redis_process.terminate()
                    redis_process.wait(10)
    finally:
        server.terminate()
        server.wait(10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; measured {args.seconds:g} s after {args.warmup:g} s warm-up")  # fmt: skip
    print("| streams | connections | events/s | collector CPU | peak RSS | E → received p50/p99 ms | E → durable p50/p99 ms | E → Redis p50/p99 ms | received → durable p50/p99 ms | received → Redis p50/p99 ms | segment write p50/p99 ms | reconnects |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['streams']} | {r['connections']} | {r['events_per_s']:.0f} | {r['cpu']:.0%} | {r['rss_mb']:.0f} MB "
              f"| {r['received']} | {r['disk']} | {r['redis']} | {r['disk_local']} | {r['redis_local']} | {r['flush']} | {r['reconnects']} |")  # fmt: skip


if __name__ == "__main__":
    main()
