"""Benchmark: how fast the simulator serves archive files on loopback.

Starts `binance-lake sim serve` in a separate process, then downloads with an aiohttp client at ~32
concurrent requests: small files (daily 1h and 1m klines, ~1-80 KB) and 2-5 MB files (spot BTCUSDT 1s
daily klines). Each set is fetched twice: cold (the server renders every zip) and warm (served from its
LRU cache). Prints files/s and MB/s.

    .venv/bin/python bench/sim.py [--concurrency 32] [--small 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import time

import aiohttp

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Cadence, Interval, Market

MAIN = "from binance_lake.cli.app import main; main()"


def small_keys(count: int) -> list[str]:
    keys: list[str] = []
    day = dt.date(2024, 1, 1)
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
    while len(keys) < count:
        for symbol in symbols:
            for interval in (Interval.H1, Interval.M1):
                keys.append(ArchiveFile(Market.UM, Cadence.DAILY, "klines", symbol, interval, day).key)
        day += dt.timedelta(days=1)
    return keys[:count]


def big_keys() -> list[str]:
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(19)]
    return [ArchiveFile(Market.SPOT, Cadence.DAILY, "klines", "BTCUSDT", Interval.S1, d).key for d in days]


async def fetch_all(base: str, keys: list[str], concurrency: int) -> tuple[float, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for key in keys:
        queue.put_nowait(key)
    total = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal total
        while not queue.empty():
            key = queue.get_nowait()
            async with session.get(f"{base}/{key}") as response:
                body = await response.read()
                if response.status not in (200, 404):  # 404: the files the universe leaves missing (#309)
                    raise RuntimeError(f"{key}: HTTP {response.status}")
                total += len(body)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - started, total


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "sim", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for _ in range(6):
        name, _, value = process.stdout.readline().removeprefix("export ").strip().partition("=")
        if name == "BINANCE_LAKE_ARCHIVE_URL":
            return process, value
    raise RuntimeError("the simulator did not print its address")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--small", type=int, default=2000, help="number of small files")
    args = parser.parse_args()
    process, base = start_server()
    rows: list[tuple[str, str, int, float, int]] = []
    try:
        for label, keys in (
            ("small (1h+1m daily klines)", small_keys(args.small)),
            ("2-5 MB (spot 1s daily)", big_keys()),
        ):
            for phase in ("cold", "warm"):
                seconds, size = asyncio.run(fetch_all(base, keys, args.concurrency))
                rows.append((label, phase, len(keys), seconds, size))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'files':<28} {'pass':<5} {'count':>6} {'avg KB':>8} {'files/s':>9} {'MB/s':>8}")
    for label, phase, count, seconds, size in rows:
        print(
            f"{label:<28} {phase:<5} {count:>6} {size / count / 1024:>8.1f} {count / seconds:>9.1f} {size / seconds / 1e6:>8.1f}"
        )


if __name__ == "__main__":
    main()
