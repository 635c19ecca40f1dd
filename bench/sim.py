"""Benchmark: how fast the simulator serves archive files, listings and HEADs on loopback.

Starts `binance-lake sim serve` in a separate process, then, with an aiohttp client:
1. downloads at ~32 concurrent requests (small universe): small files (daily 1h and 1m klines, ~1-80 KB)
   and 2-5 MB files (spot BTCUSDT 1s daily klines), each set twice: cold (the server renders every zip)
   and warm (served from its LRU cache). Prints files/s and MB/s.
2. against `sim serve --universe large` (~1050 UM perpetuals, planned sizes): walks the 1000-key pages of
   `data/futures/um/daily/klines/` one after another (ms per page, pages/s, the server's CPU per page), and
   HEADs one file per symbol (klines 1d of one day, at 64 in flight: HEAD/s, the server's CPU per HEAD).
3. the small universe's listing, where sizes are exact: cold pages of 1d klines render every file.

    .venv/bin/python bench/sim.py [--concurrency 32] [--small 2000] [--pages 40] [--skip-downloads]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import signal
import subprocess
import sys
import time

import aiohttp
import psutil

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


async def walk_listing(listing: str, prefix: str, pages: int) -> tuple[float, int, int]:
    """Follow up to `pages` 1000-key pages (v1, no delimiter): (seconds, pages, keys)."""
    marker = ""
    keys = 0
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        for page in range(pages):
            async with session.get(listing, params={"prefix": prefix, "marker": marker}) as response:
                body = await response.text()
            found = re.findall(r"<Key>([^<]*)</Key>", body)
            keys += len(found)
            if "<IsTruncated>true</IsTruncated>" not in body or not found:
                return time.perf_counter() - started, page + 1, keys
            marker = found[-1]
        return time.perf_counter() - started, pages, keys


async def head_all(base: str, keys: list[str], concurrency: int) -> tuple[float, int]:
    """HEAD every key with `concurrency` in flight: (seconds, how many answered 200)."""
    semaphore = asyncio.Semaphore(concurrency)
    found = 0

    async def one(session: aiohttp.ClientSession, key: str) -> None:
        nonlocal found
        async with semaphore, session.head(f"{base}/{key}") as response:
            found += response.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session, key) for key in keys))
        return time.perf_counter() - started, found


def probe_keys(day: dt.date) -> list[str]:
    from binance_lake.sim.universe import Universe

    universe = Universe.build("large")
    return [
        ArchiveFile(Market.UM, Cadence.DAILY, "klines", s.symbol, Interval.D1, day).key
        for s in universe.symbols(Market.UM)
    ]


def server_cpu(process: subprocess.Popen[str]) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def listing_and_heads(args: argparse.Namespace) -> list[str]:
    lines: list[str] = []
    process, base = start_server("large")
    try:
        listing = f"{base}/data.binance.vision"
        prefix = "data/futures/um/daily/klines/"
        before = server_cpu(process)
        seconds, pages, keys = asyncio.run(walk_listing(listing, prefix, args.pages))
        cpu = server_cpu(process) - before
        lines.append(
            f"large listing {prefix}: {pages} pages, {keys} keys in {seconds:.2f} s: "
            f"{seconds / pages * 1000:.1f} ms/page, {pages / seconds:.1f} pages/s, "
            f"server CPU {cpu / pages * 1000:.1f} ms/page"
        )
        keys_to_probe = probe_keys(dt.date(2026, 11, 19))
        for attempt in ("first", "again"):
            before = server_cpu(process)
            seconds, found = asyncio.run(head_all(base, keys_to_probe, args.head_concurrency))
            cpu = server_cpu(process) - before
            lines.append(
                f"large HEAD ({attempt}): {len(keys_to_probe)} keys ({found} found) at {args.head_concurrency} "
                f"in flight in {seconds:.2f} s: {len(keys_to_probe) / seconds:.0f} HEAD/s, server CPU "
                f"{cpu / len(keys_to_probe) * 1000:.2f} ms/HEAD"
            )
    finally:
        stop_server(process)
    process, base = start_server("small")
    try:
        listing = f"{base}/data.binance.vision"
        prefix = "data/spot/daily/klines/BTCUSDT/1d/"
        for phase in ("cold", "warm"):
            seconds, pages, keys = asyncio.run(walk_listing(listing, prefix, 3))
            lines.append(
                f"small listing {prefix} ({phase}): {pages} pages, {keys} keys in {seconds:.2f} s: "
                f"{seconds / pages * 1000:.1f} ms/page"
            )
    finally:
        stop_server(process)
    return lines


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)


def start_server(universe: str = "small") -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "sim", "serve", "--universe", universe],
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
    parser.add_argument("--pages", type=int, default=40, help="listing pages to walk (large universe)")
    parser.add_argument("--head-concurrency", type=int, default=64, help="HEAD requests in flight")
    parser.add_argument("--skip-downloads", action="store_true", help="only listings and HEADs")
    args = parser.parse_args()
    for line in listing_and_heads(args):
        print(line, flush=True)
    if args.skip_downloads:
        return
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
        stop_server(process)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'files':<28} {'pass':<5} {'count':>6} {'avg KB':>8} {'files/s':>9} {'MB/s':>8}")
    for label, phase, count, seconds, size in rows:
        print(
            f"{label:<28} {phase:<5} {count:>6} {size / count / 1024:>8.1f} {count / seconds:>9.1f} {size / seconds / 1e6:>8.1f}"
        )


if __name__ == "__main__":
    main()
