"""Benchmark: `Lake.load` of a 1m symbol-year and `load_universe` of an N-symbol year of 1h bars against
`polars.read_parquet` of the same partition files (the reader's limit, issue 12 goal 3), two source trees
side by side.

The lake is built once (monthly zstd partitions written as sync writes them, `file_state` rows; 2024, all
months closed) and compacted with this tree's `binance-lake compact` (`compacted/`, which a tree without
compaction ignores). Then, in `--rounds` interleaved rounds, each tree's code (`PYTHONPATH=<tree>/src`, a child
process per tree and round) times each case, median of `--repeat` runs after a warm-up, and the same child
times `polars.read_parquet` of the same files (hive columns off) as the anchor, so each ratio is from one
process at one moment of the machine's load.

    .venv/bin/python bench/load_compact.py --tree before=/work/wt/base --tree after=. --rounds 3
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from trees import parse_trees

START, END = "2024-01-01", "2024-12-31"
KLINES = "tables/klines/market=um"


def build(root: Path, symbols: int) -> None:
    import numpy as np

    from binance_lake.core.vocabulary import Interval
    from load import MONTHS, Builder, month_bars

    class Parquet(Builder):  # the partitions and records only, not the CSV copies bench/load.py compares with
        def put(self, dataset: str, symbol: str, interval: Any, month: Any, table: Any) -> None:
            from binance_lake.core.archive import ArchiveFile
            from binance_lake.core.partitions import Partition
            from binance_lake.core.vocabulary import Cadence, Market
            from binance_lake.engine.state import FileState, FileStatus
            from binance_lake.storage.parquet import write_table_atomic

            write_table_atomic(
                self.root / Partition(dataset, Market.UM, interval, symbol, month).path, table, durable=False
            )
            file = ArchiveFile(Market.UM, Cadence.MONTHLY, dataset, symbol, interval, month)
            self.states.append(FileState("", file, FileStatus.INGESTED))

    rng = np.random.default_rng(7)
    builder = Parquet(root, root / "unused")
    universe = [f"S{i:03d}USDT" for i in range(symbols - 1)] + ["BTCUSDT"]
    for month in MONTHS:
        builder.put("klines", "BTCUSDT", Interval.M1, month, month_bars(month, Interval.M1, rng))
        for symbol in universe:
            builder.put("klines", symbol, Interval.H1, month, month_bars(month, Interval.H1, rng))
    builder.commit()


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def worker(root: Path, repeat: int) -> dict[str, float]:
    import polars as pl

    from binance_lake.lake import Lake

    lake = Lake(root)
    minute = sorted((root / KLINES / "interval=1m/symbol=BTCUSDT").glob("*.parquet"))
    hourly = sorted((root / KLINES / "interval=1h").glob("symbol=*/*.parquet"))

    def one(as_: str) -> Callable[[], Any]:
        return lambda: lake.load("klines", "BTCUSDT", START, END, interval="1m", as_=as_)

    def universe(as_: str) -> Callable[[], Any]:
        return lambda: lake.load_universe(START, END, interval="1h", as_=as_)

    time.sleep(1.1)  # let lake.duckdb settle, so the coverage answers may be cached (load/connection.py)
    cases: dict[str, Callable[[], Any]] = {
        "polars 1m": lambda: pl.read_parquet(minute, hive_partitioning=False),
        "load 1m arrow": one("arrow"),
        "load 1m polars": one("polars"),
        "load 1m pandas": one("pandas"),
        "polars universe": lambda: pl.read_parquet(hourly, hive_partitioning=False),
        "universe arrow": universe("arrow"),
        "universe polars": universe("polars"),
        "universe pandas": universe("pandas"),
    }
    return {
        name: median_ms(fn, repeat if "1m" in name else max(3, repeat // 2)) for name, fn in cases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tree", action="append", help="name=path of a source tree (repeatable; default: this one, main=.)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--lake", type=Path, help="an existing lake built by this script (kept)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat)))
        return
    trees = parse_trees(args.tree)
    work = None if args.lake else Path(tempfile.mkdtemp(prefix="bench-load-compact-"))
    root = args.lake or work / "lake"  # type: ignore[operator]
    if not (root / "lake.duckdb").exists():
        build(root, args.symbols)
    from binance_lake.lake import Lake

    report = Lake(root).compact(datasets="klines")
    print(f"compact: {json.dumps(report.summary())}", file=sys.stderr, flush=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for round_ in range(args.rounds):
        for name, tree in trees[round_ % len(trees) :] + trees[: round_ % len(trees)]:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(root), "--repeat", str(args.repeat)],
                env={**os.environ, "PYTHONPATH": str(tree / "src")},
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["load average"] = os.getloadavg()[0]
            runs[name].append(figures)
            print(name, round_, json.dumps(figures), file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.rounds} interleaved rounds; the median of each round's median, ms (ratio to polars.read_parquet)"
    )
    names = [n for n in next(iter(runs.values()))[0] if n != "load average"]
    print(f"| case | {' | '.join(name for name, _ in trees)} |")
    print(f"|---|{'---:|' * len(trees)}")
    for case in names:
        cells = []
        for name, _ in trees:
            value = statistics.median(r[case] for r in runs[name])
            anchor_name = "polars 1m" if "1m" in case else "polars universe"
            anchor = statistics.median(r[anchor_name] for r in runs[name])
            cells.append(f"{value:.1f} ({value / anchor:.2f}×)")
        print(f"| {case} | {' | '.join(cells)} |")
    loads = [r["load average"] for rs in runs.values() for r in rs]
    print(f"load average during the rounds: {min(loads):.1f} .. {max(loads):.1f}")
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
