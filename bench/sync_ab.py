"""Benchmark: the same warm `Lake.sync` from two source trees, interleaved A/B, against one simulator.

For a machine shared with other work, where absolute seconds move with the load: one simulator process (the
selection's universe from bench/sync.py), one cold sync to fill its cache, then `--rounds` rounds in which
each tree syncs the selection into a fresh lake in its own child process (`PYTHONPATH=<tree>/src`), the order
rotating every round. Prints each run's seconds and CPU, the median per tree, and the ratio to the first tree.

    .venv/bin/python bench/sync_ab.py --tree before=/work/wt/base --tree after=. --selection a --rounds 3
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from simprocess import children_cpu, start_simulator, stop_simulator
from sync import SELECTIONS, universe_toml
from trees import parse_trees

SYNC = str(Path(__file__).with_name("sync.py"))


def run_tree(tree: Path, env: dict[str, str], root: Path, selection: str, concurrency: int) -> dict[str, Any]:
    """One warm sync by the tree's code in a child process: its figures plus the child's CPU seconds."""
    before = children_cpu()
    result = subprocess.run(
        [sys.executable, SYNC, "--worker", "sync", "--root", str(root), "--selection", selection,
         "--concurrency", str(concurrency)],
        env={**os.environ, **env, "PYTHONPATH": str(tree / "src")},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{tree}: {result.stderr[-2000:]}")
    figures = dict(json.loads(result.stdout.strip().splitlines()[-1]))
    figures.pop("keys", None)
    figures["cpu_seconds"] = children_cpu() - before
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="name=path of a source tree")
    parser.add_argument("--selection", choices=tuple(SELECTIONS), default="a")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    trees = parse_trees(args.tree)

    work = Path(tempfile.mkdtemp(prefix="bench-sync-ab-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    try:
        universe_toml(work / "universe.toml", args.selection)
        server, env = start_simulator(str(work / "universe.toml"))
        try:
            run_tree(trees[0][1], env, work / "cold", args.selection, args.concurrency)
            for round_ in range(args.rounds):
                order = trees[round_ % len(trees) :] + trees[: round_ % len(trees)]
                for name, tree in order:
                    root = work / f"{name}-{round_}"
                    figures = run_tree(tree, env, root, args.selection, args.concurrency)
                    figures["load"] = os.getloadavg()[0]
                    runs[name].append(figures)
                    shutil.rmtree(root, ignore_errors=True)
                    print(name, round_, json.dumps(figures), file=sys.stderr, flush=True)
        finally:
            stop_simulator(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"selection: {SELECTIONS[args.selection]['label']}, {args.rounds} interleaved rounds, medians")
    print("| tree | wall s | refresh s | execute s | client CPU s | runs (wall s) | wall / first tree |")
    print("|---|---:|---:|---:|---:|---|---:|")
    first = statistics.median(r["seconds"] for r in runs[trees[0][0]])
    for name, _ in trees:
        rs = runs[name]
        wall = statistics.median(r["seconds"] for r in rs)
        each = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        print(
            f"| {name} | {wall:.2f} | {statistics.median(r['refresh_seconds'] for r in rs):.2f} "
            f"| {statistics.median(r['execute_seconds'] for r in rs):.2f} "
            f"| {statistics.median(r['cpu_seconds'] for r in rs):.2f} "
            f"| {each} | {wall / first:.2f} |"
        )


if __name__ == "__main__":
    main()
