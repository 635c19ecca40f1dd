"""Benchmark: the `binance-lake sync` command of two (or more) source trees, interleaved, against one simulator.

bench/sync_ab.py times `Lake.sync` inside a child process, which leaves out what a user's command pays before
the sync starts (imports, settings) and after it. This script runs the command itself, as bench/peers.py runs
binance-lake (`python -c "from binance_lake.cli.app import main; main()" sync ... --format json`, a fresh
lake each run), with `PYTHONPATH=<tree>/src` per tree: one simulator over bench/peers.py's selection, one
warm-up sync to fill its cache, then `--rounds` rounds with the order rotating. Each tree is compiled to
bytecode first (bench/trees.py), so none pays Python's compile of its modules in every run. Prints each run's wall
seconds, CPU seconds (the command's process and its children) and the sync's own `seconds` (its execute
phase), then the medians per tree and their ratio to the first tree.

    .venv/bin/python bench/sync_cli_ab.py --tree before=/work/wt/base --tree after=. --selection small --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from peers import SELECTIONS, lake_command, run_lake, universe_toml
from simprocess import children_cpu, start_simulator
from trees import parse_trees


def sync_once(tree: Path, selection: str, sim: dict[str, str], root: Path) -> dict[str, Any]:
    env = {**os.environ, **sim, "BINANCE_LAKE_ROOT": str(root), "PYTHONPATH": str(tree / "src")}
    cpu, started = children_cpu(), time.perf_counter()
    result = subprocess.run(lake_command(selection), env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    if result.returncode != 0:
        raise RuntimeError(f"{tree}: sync exited {result.returncode}: {result.stderr[-1500:]}")
    summary = json.loads(result.stdout)
    return {"wall": wall, "cpu": cpu, "execute": summary["seconds"], "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="name=path of a source tree")
    parser.add_argument("--selection", choices=tuple(SELECTIONS), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = parse_trees(args.tree)

    work = Path(tempfile.mkdtemp(prefix="bench-sync-cli-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    try:
        universe_toml(work / "universe.toml", args.selection)
        server, sim = start_simulator(str(work / "universe.toml"))
        try:
            run_lake(args.selection, sim, work / "warm-up")  # the simulator renders and caches every file
            for round_ in range(args.rounds):
                for name, tree in trees[round_ % len(trees) :] + trees[: round_ % len(trees)]:
                    root = work / f"{name}-{round_}"
                    figures = sync_once(tree, args.selection, sim, root)
                    runs[name].append(figures)
                    print(name, round_, json.dumps(figures), flush=True)
                    shutil.rmtree(root, ignore_errors=True)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"selection: {args.selection}; {args.rounds} interleaved rounds, medians")
    print("| tree | wall s (runs) | median wall | median CPU s | median execute s | wall / first |")
    print("|---|---|---:|---:|---:|---:|")
    first: float | None = None
    for name, _ in trees:
        walls = [r["wall"] for r in runs[name]]
        wall = statistics.median(walls)
        first = wall if first is None else first
        cpu = statistics.median(r["cpu"] for r in runs[name])
        execute = statistics.median(r["execute"] for r in runs[name])
        listed = ", ".join(f"{w:.2f}" for w in walls)
        print(f"| {name} | {listed} | {wall:.2f} | {cpu:.2f} | {execute:.2f} | {wall / first:.2f} |")


if __name__ == "__main__":
    main()
