"""Benchmark: the sync's ingest step alone on every core — worker threads (as the sync runs it) against
worker processes — over the same verified zips, and the floor: parsing alone.

The zips come from a sync of a bench/peers.py selection against the simulator (`--selection big`: 40 monthly
1m files, 1.79 M rows; `small`: 1200 monthly 1h files). Each mode ingests every group (`engine.ingest.ingest`,
`durable=False` as the sync does) into a fresh scratch lake, `--rounds` times, the modes interleaved:

* `1 thread`: one after the other in this process;
* `N threads`: a `ThreadPoolExecutor` of N (pyarrow releases the GIL while it inflates, parses and writes);
* `N processes`: a `ProcessPoolExecutor` of N (forked from this process, so their CPU is counted as its
  children's once the pool shuts down; the workers' start-up is included);
* `parse only, N threads`: `binance.csv_parse.parse_file` alone (inflate + CSV parse), nothing written;
* `batched` (one thread): the groups handed to `engine.ingest.ingest_many` as the executor hands them when
  partitions wait for a worker: consecutive groups of up to `INGEST_BATCH_BYTES` of zips (small CSVs parsed
  together, `binance.csv_parse.parse_files`);
* `parse batched`: `parse_files` over the same batches, nothing written.

Prints wall seconds, this process's and its children's CPU seconds, rows/s and files/s.

    .venv/bin/python bench/ingest_parallel.py --selection big --workers 2 --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from peers import run_lake, universe_toml
from simprocess import start_simulator, stop_simulator


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _groups(raw: Path) -> list[tuple[Any, list[Any]]]:
    from binance_lake.core.archive import ParsedKey, parse_key
    from binance_lake.engine.ingest import Verified, group_for_ingest

    items = []
    for path in sorted(raw.rglob("*.zip")):
        parsed = parse_key(str(path.relative_to(raw)))
        assert isinstance(parsed, ParsedKey)
        items.append(Verified(parsed.key, parsed.file, path))
    return list(group_for_ingest(items).items())


def _ingest_one(scratch: str, target: Any, group: list[Any]) -> int:
    from binance_lake.engine.ingest import ingest

    return sum(ingest(Path(scratch), target, group, durable=False).values())


def _parse_one(scratch: str, target: Any, group: list[Any]) -> int:
    from binance_lake.binance.csv_parse import parse_file

    return sum(parse_file(item.path, item.file).num_rows for item in group)


def _ingest_batch(scratch: str, batch: list[tuple[Any, list[Any]]]) -> int:
    from binance_lake.engine.ingest import ingest_many

    results = ingest_many(Path(scratch), batch, [[] for _ in batch], durable=False)
    assert all(isinstance(r, dict) for r in results), results
    return sum(sum(r.values()) for r in results if isinstance(r, dict))


def _parse_batch(scratch: str, batch: list[tuple[Any, list[Any]]]) -> int:
    from binance_lake.binance.csv_parse import parse_files

    return sum(t.num_rows for t in parse_files([(i.path, i.file) for _, g in batch for i in g]))


def _batches(groups: list[Any]) -> list[list[Any]]:
    """Consecutive groups of at most `INGEST_BATCH_BYTES` of zips (at least one), as the executor takes them."""
    from binance_lake.engine.executor import INGEST_BATCH_BYTES

    batches: list[list[Any]] = []
    size = 0
    for target, group in groups:
        bytes_ = sum(item.path.stat().st_size for item in group)
        if not batches or size + bytes_ > INGEST_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((target, group))
        size += bytes_
    return batches


def _run(pool: Executor | None, job: Callable[..., int], scratch: Path, groups: list[Any]) -> int:
    if pool is None:
        return sum(job(str(scratch), t, g) for t, g in groups)
    return sum(pool.map(job, *zip(*[(str(scratch), t, g) for t, g in groups], strict=True)))


def measure(mode: str, workers: int, groups: list[Any], work: Path) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(dir=work, prefix="scratch-"))
    cpu, started = _cpu(), time.perf_counter()
    if mode == "1 thread":
        rows = _run(None, _ingest_one, scratch, groups)
    elif mode == "threads":
        with ThreadPoolExecutor(workers) as threads:
            rows = _run(threads, _ingest_one, scratch, groups)
    elif mode == "processes":
        context = multiprocessing.get_context("fork")  # direct children: their CPU is counted on shutdown
        with ProcessPoolExecutor(workers, mp_context=context) as processes:
            rows = _run(processes, _ingest_one, scratch, groups)
    elif mode == "parse only":
        with ThreadPoolExecutor(workers) as threads:
            rows = _run(threads, _parse_one, scratch, groups)
    elif mode == "batched":
        rows = sum(_ingest_batch(str(scratch), batch) for batch in _batches(groups))
    else:
        rows = sum(_parse_batch(str(scratch), batch) for batch in _batches(groups))
    seconds = time.perf_counter() - started
    figures = {"seconds": seconds, "cpu_seconds": _cpu() - cpu, "rows": rows, "load": os.getloadavg()[0]}
    shutil.rmtree(scratch, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--selection", choices=("small", "big"), default="big")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", help="comma-separated subset of the modes, e.g. '1 thread,batched'")
    parser.add_argument("--raw", help="ingest the zips of this raw/ directory instead of syncing a selection")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-parallel-"))
    modes = ["1 thread", "threads", "processes", "parse only", "batched", "parse batched"]
    if args.modes:
        modes = [m for m in modes if m in args.modes.split(",")]
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    try:
        if args.raw is None:
            universe_toml(work / "universe.toml", args.selection)
            server, sim = start_simulator(str(work / "universe.toml"))
            try:
                run_lake(args.selection, sim, work / "lake")
            finally:
                stop_simulator(server, timeout=60)
        groups = _groups(Path(args.raw) if args.raw else work / "lake" / "raw")
        files = sum(len(g) for _, g in groups)
        for round_ in range(args.rounds):
            for mode in modes[round_ % len(modes) :] + modes[: round_ % len(modes)]:
                figures = measure(mode, args.workers, groups, work)
                runs[mode].append(figures)
                print(mode, round_, figures, file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"selection: {args.selection}, {files} files; {args.rounds} interleaved rounds, medians")
    print("| mode | wall s | CPU s | rows/s (wall) | rows/s per CPU-second | files/s (wall) | load |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, rs in runs.items():
        wall = statistics.median(r["seconds"] for r in rs)
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        rows = rs[0]["rows"]
        name = mode if mode.startswith("1 thread") or "batched" in mode else f"{mode}, {args.workers}"
        print(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {rows / wall:,.0f} | {rows / cpu:,.0f} | {files / wall:,.0f} "
            f"| {statistics.median(r['load'] for r in rs):.1f} |"
        )


if __name__ == "__main__":
    main()
