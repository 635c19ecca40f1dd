"""Benchmark: `Lake.catalog.snapshot` and `.timeline` call latency, two source trees side by side.

Refreshes klines 1d of the simulator's small universe into one lake (the simulator in its own process), then,
in `--rounds` interleaved rounds, each tree's code (`PYTHONPATH=<tree>/src`, a child process per tree and
round) times `--calls` calls of each through `Lake(root).catalog`, as a user's program makes them: medians
and 90th percentiles, in ms. The catalog is a few thousand files, so the figures are the fixed costs of a
call (opening the database, or not), not the query's.

    .venv/bin/python bench/catalog_calls.py --tree before=/work/wt/base --tree after=. --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from simprocess import start_simulator, stop_simulator
from trees import parse_trees


def worker(root: Path, calls: int) -> dict[str, Any]:
    from binance_lake.lake import Lake

    lake = Lake(root)
    symbols = lake.catalog.symbols(markets="um", as_="arrow")
    names = symbols.column("symbol").to_pylist()
    day = max(symbols.column("last_day").to_pylist())
    rng = random.Random(1)
    result: dict[str, Any] = {}
    for label, call in (
        ("snapshot", lambda: lake.catalog.snapshot(day, markets="um", datasets="klines", intervals="1d")),
        ("timeline", lambda: lake.catalog.timeline(rng.choice(names), markets="um", datasets="klines")),
    ):
        for _ in range(3):
            call()
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        result[label] = (statistics.median(times), times[int(len(times) * 0.9)])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tree", action="append", help="name=path of a source tree (repeatable; default: this one, main=.)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls)))
        return
    trees = parse_trees(args.tree)
    work = Path(tempfile.mkdtemp(prefix="bench-catalog-calls-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    try:
        server, env = start_simulator("small")
        try:
            os.environ.update(env)
            from binance_lake.lake import Lake

            report = Lake(work / "lake").catalog.refresh(markets="um", datasets="klines", intervals="1d")
            print(f"catalog: {report.files_seen} files", file=sys.stderr, flush=True)
        finally:
            stop_simulator(server)
        for round_ in range(args.rounds):
            for name, tree in trees[round_ % len(trees) :] + trees[: round_ % len(trees)]:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", str(work / "lake"), "--calls", str(args.calls)],
                    env={**os.environ, "PYTHONPATH": str(tree / "src")},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                figures["load"] = os.getloadavg()[0]
                runs[name].append(figures)
                print(name, round_, json.dumps(figures), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.rounds} interleaved rounds of {args.calls} calls; the median of each round's median (p90)")
    print("| tree | snapshot ms | timeline ms |")
    print("|---|---:|---:|")
    for name, rs in runs.items():
        cells = []
        for label in ("snapshot", "timeline"):
            med = statistics.median(r[label][0] for r in rs)
            p90 = statistics.median(r[label][1] for r in rs)
            cells.append(f"{med:.2f} ({p90:.2f})")
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
