"""Benchmark: the catalog against the simulator's large universe (~1050 UM perpetuals over ~2500 days).

Starts `binance-lake sim serve --universe large` in a separate process, then, in this process:
1. a full `catalog refresh --markets um` (every dataset: ~7.5 M zips, ~15 M keys): time, pages/s, keys/s,
   and the CPU seconds spent by this client and by the simulator;
2. a second, unchanged refresh of one dataset (`--again`, it must report zero changes);
3. `catalog probe` of one day: one HEAD per symbol (klines 1d: ~1050 files, seed 002 probes 708 in ~5 s), and
   of every active series (klines 1h and 1d, metrics: ~3150 files);
4. snapshot and timeline latency: the median over many calls on an open connection (seed 002: < 1 ms and
   < 10 ms), and through `Lake.catalog`, which opens the database for every call.

    .venv/bin/python bench/catalog.py [--root DIR] [--skip-refresh] [--datasets klines] [--calls 300]

`--root` keeps the lake (a later run with `--skip-refresh` measures probes and queries on it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import psutil

from binance_lake.catalog import queries
from binance_lake.core.settings import Settings
from binance_lake.lake import Lake
from simprocess import start_simulator


def start_server() -> tuple[subprocess.Popen[str], dict[str, str]]:
    return start_simulator("large")


def settings_for(env: dict[str, str], root: Path) -> Settings:
    return Settings(
        root=root,
        archive_url=env["BINANCE_LAKE_ARCHIVE_URL"],
        listing_url=env["BINANCE_LAKE_LISTING_URL"],
        fapi_url=env["BINANCE_LAKE_FAPI_URL"],
        dapi_url=env["BINANCE_LAKE_DAPI_URL"],
        spot_api_url=env["BINANCE_LAKE_SPOT_API_URL"],
    )


def synthetic_catalog(lake: Lake) -> str:
    """Fill the catalog with every file of the large universe computed in-process from the simulator's bucket
    (the same keys, sizes and upload times its listing serves), without HTTP: the simulator renders a listing
    page in ~80 ms, so listing all ~15 M keys over HTTP takes ~20 min of simulator CPU. Times the set-wise apply
    (new catalog, then the same rows again: zero changes)."""
    import hashlib

    from binance_lake.binance.listing import ListedObject
    from binance_lake.catalog.refresh import Listing, Rows
    from binance_lake.catalog.store import SCHEMA, apply_seen
    from binance_lake.core.vocabulary import Cadence, Market
    from binance_lake.sim.bucket import Bucket
    from binance_lake.sim.universe import Universe

    universe = Universe.build("large")
    bucket = Bucket(universe)
    now = universe.clock.now()
    started = time.perf_counter()
    listing = Listing()
    for sym in universe.symbols(Market.UM):
        for dataset, intervals in universe.offer(Market.UM, sym.symbol).items():
            for interval in intervals or (None,):
                for cadence in (Cadence.DAILY, Cadence.MONTHLY):
                    rows: Rows = listing.rows()
                    for file in bucket.periods(Market.UM, cadence, dataset, sym.symbol, interval, now):
                        etag = hashlib.md5(file.key.encode()).hexdigest()
                        moment = bucket.publish_time(file)
                        rows.add(ListedObject(file.key, bucket.planned_size(file), etag, moment))
                        rows.add(ListedObject(file.checksum_key, 120, etag, moment))
                    listing.add_rows(rows)
    built = time.perf_counter() - started
    table = listing.table()
    lake.database.ensure_schema(SCHEMA)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        with lake.database.connect() as connection:
            changes = apply_seen(
                connection, table, now=dt.datetime.now(dt.UTC), scope=[("data/futures/um/", None, None)]
            )
        timings.append((time.perf_counter() - started, changes))
    (first, new), (second, again) = timings
    return (
        f"synthetic catalog: {table.num_rows:,} files ({2 * table.num_rows:,} keys through the fast path) in "
        f"{built:.1f} s ({2 * table.num_rows / built:,.0f} keys/s incl. the simulator's arithmetic); apply "
        f"{first:.1f} s (new {new.new:,}), unchanged re-apply {second:.1f} s (changes {again.total})"
    )


def median_ms(calls: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Median and 90th percentile of `calls` calls, in milliseconds (after a few warm-up calls)."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=None, help="lake directory (default: a temporary one)")
    parser.add_argument("--skip-refresh", action="store_true", help="reuse the catalog already at --root")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="fill the catalog in-process (no HTTP listing), then probe and query",
    )
    parser.add_argument("--datasets", default=None, help="refresh only these datasets (default: all)")
    parser.add_argument("--again", action="store_true", help="run a second, unchanged refresh of fundingRate")
    parser.add_argument("--calls", type=int, default=300, help="calls per latency figure")
    parser.add_argument("--concurrency", type=int, default=128, help="HEAD requests in flight while probing")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    process, env = start_server()
    server = psutil.Process(process.pid)
    me = psutil.Process()
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    try:
        lake = Lake(settings=settings_for(env, root))
        if args.synthetic:
            say(synthetic_catalog(lake))
        elif not args.skip_refresh:
            cpu_me, cpu_server = me.cpu_times(), server.cpu_times()
            report = lake.catalog.refresh(markets="um", datasets=args.datasets)
            mine = sum(me.cpu_times()[:2]) - sum(cpu_me[:2])
            theirs = sum(server.cpu_times()[:2]) - sum(cpu_server[:2])
            say(
                f"full refresh (um, {args.datasets or 'all datasets'}): {report.seconds:.1f} s, "
                f"{report.pages} pages ({report.pages_per_second:.1f} pages/s), {report.keys} keys "
                f"({report.keys_per_second:,.0f} keys/s), {report.files_seen} files, new {report.changes.new}; "
                f"CPU: client {mine:.1f} s, simulator {theirs:.1f} s"
            )
        if args.again:
            again = lake.catalog.refresh(markets="um", datasets="fundingRate")
            say(
                f"second refresh (um fundingRate, unchanged): {again.seconds:.1f} s, {again.pages} pages, "
                f"changes {again.changes.total}"
            )
        now = lake.catalog.symbols(as_="arrow")
        day = max(now.column("last_day").to_pylist())
        for label, dataset, interval in (
            ("one file per symbol: klines 1d", "klines", "1d"),
            ("all series", None, None),
        ):
            probe = lake.catalog.probe(
                day, markets="um", datasets=dataset, intervals=interval, concurrency=args.concurrency
            )
            say(
                f"probe {day} ({label}): {probe.probed} HEADs for {probe.series} series in {probe.seconds:.2f} s "
                f"({probe.probed / probe.seconds:.0f} HEAD/s), found {probe.found}, changes {probe.changes.total}"
            )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)

    with lake.database.connect() as connection:
        rows = connection.execute(
            "SELECT count(*), min(first_day), max(last_day) FROM upstream_files"
        ).fetchall()
        count, first, last = rows[0]
        symbols = [s for (s,) in connection.execute("SELECT DISTINCT symbol FROM upstream_files").fetchall()]
        say(f"catalog: {count:,} files, {len(symbols)} symbols, {first} .. {last}")
        rng = random.Random(2)
        span = (last - first).days

        def some_day() -> dt.date:
            return first + dt.timedelta(days=rng.randrange(span + 1))

        figures = {
            "snapshot (um klines 1d, one day)": lambda: queries.snapshot(
                connection, some_day(), queries.Filters(market="um", dataset="klines", interval="1d")
            ),
            "snapshot (every series, one day)": lambda: queries.snapshot(connection, some_day()),
            "timeline (one symbol, klines 1d)": lambda: queries.timeline(
                connection,
                queries.Filters(market="um", dataset="klines", interval="1d", symbol=rng.choice(symbols)),
            ),
            "timeline (one symbol, every series)": lambda: queries.timeline(
                connection, queries.Filters(market="um", symbol=rng.choice(symbols))
            ),
        }
        for label, fn in figures.items():
            med, p90 = median_ms(args.calls, fn)
            say(f"{label}: median {med:.2f} ms, p90 {p90:.2f} ms (open connection, {args.calls} calls)")
    lake_day = some_day()
    med, p90 = median_ms(
        max(args.calls // 3, 20),
        lambda: lake.catalog.snapshot(lake_day, markets="um", datasets="klines", intervals="1d"),
    )
    say(f"Lake.catalog.snapshot (opens the database each call): median {med:.2f} ms, p90 {p90:.2f} ms")
    med, p90 = median_ms(
        max(args.calls // 3, 20),
        lambda: lake.catalog.timeline(rng.choice(symbols), markets="um", datasets="klines"),
    )
    say(f"Lake.catalog.timeline (opens the database each call): median {med:.2f} ms, p90 {p90:.2f} ms")
    size = (root / "lake.duckdb").stat().st_size
    say(f"lake.duckdb: {size / 1e6:.0f} MB at {root}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}"
    )


if __name__ == "__main__":
    main()
