"""Benchmark: does `binance-lake monitor` slow the sync it watches?

The same sync (selection (a) of bench/sync.py shrunk to 20 symbols × 12 months of 1h klines: 240 monthly files)
runs into a fresh lake, alone or with `binance-lake monitor --refresh 0.2` watching it from another process,
interleaved A/B for `--rounds` rounds after one warm-up sync (the simulator renders each file once). Prints each
wall time, the medians and their ratio.

    .venv/bin/python bench/monitor.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simprocess import MAIN, start_simulator

SYMBOLS = [f"B{i:03d}USDT" for i in range(20)]


def universe(path: Path) -> None:
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "2022-06-01"\nintervals = ["1h"]\n'
        'datasets = ["klines"]\n'
        for s in SYMBOLS
    ]
    path.write_text("planned_sizes = true\n\n" + "\n".join(entries), encoding="utf-8")


def sync(env: dict[str, str], root: Path, watched: bool) -> float:
    run_env = {**os.environ, **env, "BINANCE_LAKE_ROOT": str(root)}
    args = ["sync", "--datasets", "klines", "--intervals", "1h", "--symbols", ",".join(SYMBOLS)]
    args += ["--start", "2025-10-01", "--end", "2026-09-30", "--format", "json"]
    monitor = None
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", MAIN, *args], env=run_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    if watched:
        monitor = subprocess.Popen(
            [sys.executable, "-c", MAIN, "monitor", "--refresh", "0.2"],
            env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    code = process.wait()
    seconds = time.perf_counter() - started
    if monitor is not None:
        monitor.terminate()
        monitor.wait()
    assert code == 0, f"sync failed ({code})"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        universe(base / "universe.toml")
        server, env = start_simulator(str(base / "universe.toml"))
        try:
            sync(env, base / "warm", False)
            times: dict[bool, list[float]] = {False: [], True: []}
            for n in range(rounds):
                for watched in (False, True) if n % 2 == 0 else (True, False):
                    seconds = sync(env, base / f"lake-{n}-{watched}", watched)
                    times[watched].append(seconds)
                    print(f"round {n + 1} {'with monitor' if watched else 'alone       '} {seconds:6.2f} s")
        finally:
            server.terminate()
            server.wait()
    alone, watched = statistics.median(times[False]), statistics.median(times[True])
    print(f"median alone {alone:.2f} s, with monitor {watched:.2f} s: ratio {watched / alone:.3f}")


if __name__ == "__main__":
    main()
