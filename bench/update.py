"""Benchmark: the REST side of `update` against the simulator on loopback, and an update of a lake already up to
date.

The simulator runs in its own process (`binance-lake sim serve`, clock 2026-11-20 12:00 UTC) over 100 generated
UM perpetuals offering klines, mark/index/premium-index klines (1m, 1h), funding and metrics (behind the REST-only
statistics). Its REST hosts account weight per IP over a real rolling minute with Binance's 2400/min limit, and
the `/futures/data/*` requests in their 1000 / 5 min bucket, so the client's budgets (`--weight-share` of each,
default 0.8) are what bound the run, as against Binance.

  (a) "daily update for 3 days": for each symbol klines 1m + 1h, markPriceKlines, indexPriceKlines and
      premiumIndexKlines 1h, fundingRate and the 5 REST-only statistics at 5m (openInterestHist,
      top/global long-short ratios, takerlongshortRatio; `--no-stats` leaves them out), fetched from REST for
      the 3 days up to the last closed bar (`engine.rest_fill.run_rest_fill`, what `update` runs when the
      archive lags 3 days): wall time, requests, weight, the peak weight in use in a minute as the server
      reported it, and the ratio of the wall time to the floor the budgets impose (the largest of weight /
      weight budget per minute, statistics requests / their bucket's budget per 5 minutes, and the
      rolling-window floors: (ceil(total / budget) - 1) windows of each);
  (b) `Lake.update()` of the lake (a) left, twice: the first replaces the REST days the archive has (and
      reconciles them), the second finds nothing new (an up-to-date lake).
A cold pass of (a) into a scratch lake runs first, so the simulator has generated its day tables.

    .venv/bin/python bench/update.py [--symbols 100] [--weight-share 0.8] [--no-stats] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from simprocess import start_simulator

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
DATASETS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines", "fundingRate")
STATS = (
    "openInterestHist",
    "topLongShortAccountRatio",
    "topLongShortPositionRatio",
    "globalLongShortAccountRatio",
    "takerlongshortRatio",
)


def universe_toml(path: Path, symbols: list[str]) -> None:
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "2026-09-25"\n'
        f'intervals = ["1m", "5m", "1h"]\ndatasets = {json.dumps([*DATASETS, "metrics"])}\n'
        for s in symbols
    ]
    path.write_text("\n".join(entries), encoding="utf-8")


def rest_fill(root: Path, symbols: list[str], share: float, stats: bool) -> dict[str, Any]:
    from binance_lake.binance.http import make_session
    from binance_lake.binance.rest_market import FUTURES_DATA_BUCKET, MarketRestClient
    from binance_lake.catalog.store import ensure_catalog
    from binance_lake.core.series_key import SeriesKey
    from binance_lake.core.settings import resolve_settings
    from binance_lake.core.timerange import to_millis
    from binance_lake.core.vocabulary import Interval, Market
    from binance_lake.engine.rest_fill import RestWindow, last_closed_ms, run_rest_fill
    from binance_lake.storage.database import LakeDatabase

    database = LakeDatabase(root)
    ensure_catalog(database)
    series = []
    for symbol in symbols:
        series.append(SeriesKey(Market.UM, "klines", Interval.M1, symbol))
        series.extend(SeriesKey(Market.UM, d, Interval.H1, symbol) for d in DATASETS[:-1])
        series.append(SeriesKey(Market.UM, "fundingRate", None, symbol))
        if stats:
            series.extend(SeriesKey(Market.UM, d, None, symbol) for d in STATS)
    start = to_millis(NOW - dt.timedelta(days=3))
    windows = [RestWindow(s, start, last_closed_ms(s, to_millis(NOW))) for s in series]

    async def go() -> dict[str, Any]:
        async with make_session(limit=16) as session:
            client = MarketRestClient(session, resolve_settings(), share=share, concurrency=8)
            began = time.perf_counter()
            report = await run_rest_fill(windows, client, database)
            wall = time.perf_counter() - began
            budget = client.budget(Market.UM)
            weight_floor = report.weight / budget.budget * 60
            bucket = client.buckets.get((Market.UM, FUTURES_DATA_BUCKET.name))
            stats_requests = sum(client.bucket_requests.values()) if bucket is not None else 0
            # The bucket's window is 5 minutes; the first `budget` requests go at once.
            bucket_floor = (
                max(0, stats_requests - bucket.budget) / bucket.budget * bucket.window if bucket else 0.0
            )
            # Both budgets are rolling windows: no window of its length may hold more than the budget, so the
            # (budget+1)-th unit can go only a whole window after the first, whatever the schedule. The
            # exact floor is therefore (ceil(total / budget) - 1) windows, not the fluid total / rate above.
            rolling_weight_floor = (math.ceil(report.weight / budget.budget) - 1) * 60.0
            rolling_bucket_floor = (
                (math.ceil(stats_requests / bucket.budget) - 1) * bucket.window
                if bucket and stats_requests
                else 0.0
            )
            floor = max(weight_floor, bucket_floor, rolling_weight_floor, rolling_bucket_floor)
            return {
                "series": len(windows),
                "rows": report.rows,
                "failures": len(report.failures),
                "requests": report.requests,
                "weight": report.weight,
                "budget_per_minute": budget.budget,
                "peak_weight_in_a_minute": budget.peak,
                "weight_per_minute": round(report.weight / (wall / 60), 1),
                "statistics_requests": stats_requests,
                "statistics_bucket_per_5_min": bucket.budget if bucket else None,
                "wall_s": round(wall, 1),
                "weight_floor_s": round(weight_floor, 1),
                "bucket_floor_s": round(bucket_floor, 1),
                "rolling_weight_floor_s": rolling_weight_floor,
                "rolling_bucket_floor_s": rolling_bucket_floor,
                "ratio_to_floor": round(wall / floor, 2) if floor else None,
            }

    return asyncio.run(go())


def update_twice(root: Path, *, profile: bool = False) -> dict[str, Any]:
    import cProfile
    import pstats

    from binance_lake.lake import Lake

    lake = Lake(root)
    began = time.perf_counter()
    first = lake.update(market="um")
    middle = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    second = lake.update(market="um")
    end = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    return {
        "first_s": round(middle - began, 2),
        "first_archive_files": sum(s.execution.ingested for s in first.syncs if s.execution),
        "first_reconciled_days": len(first.reconciled),
        "up_to_date_s": round(end - middle, 2),
        "up_to_date_rest_requests": second.fill.requests,
        "up_to_date_windows": [f"{w.series} {w.start_ms}..{w.end_ms}" for w in second.fill.windows[:3]],
        "ok": first.ok and second.ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--weight-share", type=float, default=0.8)
    parser.add_argument("--no-stats", action="store_true", help="leave the 5 REST-only statistics out")
    parser.add_argument("--profile", action="store_true", help="cProfile the up-to-date update (stderr)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold pass (a quicker, rougher run)")
    args = parser.parse_args()
    symbols = [f"U{i:03d}USDT" for i in range(args.symbols)]
    with tempfile.TemporaryDirectory() as scratch:
        toml = Path(scratch) / "universe.toml"
        universe_toml(toml, symbols)
        # The clock stands still at NOW, so "up to date" stays true between the runs.
        server, env = start_simulator(str(toml), "--now", "2026-11-20T12:00Z", "--stream-speed", "0")
        try:
            os.environ.update(env)
            # A cold pass first: the simulator generates each day table once and keeps it, so the measured
            # pass is bound by the client and the weight budget, not by the server.
            cold = Path(scratch) / "cold"
            cold.mkdir()
            os.environ["BINANCE_LAKE_ROOT"] = str(cold)
            cold_pass = (
                {"wall_s": None}
                if args.no_cold
                else rest_fill(cold, symbols, args.weight_share, not args.no_stats)
            )
            print(f"cold pass: {json.dumps(cold_pass)}", file=sys.stderr, flush=True)
            root = Path(scratch) / "lake"
            root.mkdir()
            os.environ["BINANCE_LAKE_ROOT"] = str(root)
            measured = rest_fill(root, symbols, args.weight_share, not args.no_stats)
            print(f"measured pass: {json.dumps(measured)}", file=sys.stderr, flush=True)
            result = {
                "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
                "symbols": len(symbols),
                "weight_share": args.weight_share,
                "cold_pass_s": cold_pass["wall_s"],
                "rest_fill_3_days": measured,
                "statistics": not args.no_stats,
                "update": update_twice(root, profile=args.profile),
            }
        finally:
            server.kill()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
