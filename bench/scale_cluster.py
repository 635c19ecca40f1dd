"""Benchmark: `sync --cluster` (Dask) on this machine for 1, 2 and 4 worker processes, against the local sync
(the anchor), and the Dask overhead per work item.

The simulator runs in its own process (`binance-lake sim serve`) over a universe of UM perpetuals generated
per selection as bench/sync.py does (small: planned listing sizes, listed 2022-06; big: exact sizes, listed
2026-09-25). Two selections, both warmed first (the simulator renders each file once and keeps it):

  small: two years (2024-10 .. 2026-09) of 1h klines for S symbols: 24 S monthly files of ~720 rows, one work
         item each;
  big:   one month (2026-10) of 1m klines for S symbols: S monthly files of 44640 rows, one item each.

Each run syncs into a fresh lake: `local` is the plain sync, `local:N` a `LocalCluster` of N worker processes
(one thread each) started before the measured sync and passed as its scheduler address, so the figures
exclude the cluster's start (measured on its own); one unmeasured sync first warms the workers (their first
item pays for lazy imports and caches, ~1 s). files/s and MB/s are of the execute phase (download,
verify, ingest, record; the refresh and plan are the same in every run).

Overhead per item: the client's fan-out (`ClusterExecutor._fan_out`: windowed `as_completed`, recording)
over M items whose work is nothing — (1) a no-op task (Dask's cost and ours), (2) `run_item` of an item with
no files (adds the worker's event loop and HTTP session per item), (3) a no-op task over items of
`--item-files` files each, whose failed states the client records in lake.duckdb (what recording what an item
returns costs) — divided by M. Where the fan-out runs
batches of items (one task each, `run_batch`), the no-op replaces `run_batch`, so the figure stays per item,
comparable with a tree whose tasks are one item each. `--overhead-only` measures only that (no syncs).

    .venv/bin/python bench/scale_cluster.py [--symbols 16] [--workers 1,2,4] [--noop-items 400]
        [--item-files 1] [--overhead-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from simprocess import start_simulator

SELECTIONS: dict[str, dict[str, str]] = {
    "small": {"intervals": "1h", "start": "2024-10-01", "end": "2026-09-30"},
    "big": {"intervals": "1m", "start": "2026-10-01", "end": "2026-10-31"},
}


def universe_toml(path: Path, symbols: list[str], selection: str) -> None:
    listed, planned = ("2022-06-01", "true") if selection == "small" else ("2026-09-25", "false")
    interval = SELECTIONS[selection]["intervals"]
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "{listed}"\n'
        f'intervals = ["{interval}"]\ndatasets = ["klines"]\n'
        for s in symbols
    ]
    path.write_text(f"planned_sizes = {planned}\n\n" + "\n".join(entries), encoding="utf-8")


def settings_for(env: dict[str, str], root: Path) -> Any:
    import dataclasses

    from binance_lake.core.settings import ENV_NAMES, Settings

    values: dict[str, Any] = {name: env[var] for name, var in ENV_NAMES.items() if var in env}
    return dataclasses.replace(Settings(), root=root, **values)


def local_cluster(workers: int) -> tuple[Any, float]:
    import distributed

    from binance_lake.engine.cluster.run import LOCAL_HTTP

    started = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", **LOCAL_HTTP
    )
    return cluster, time.perf_counter() - started


def sync_once(env: dict[str, str], symbols: list[str], selection: str, cluster: str | None) -> dict[str, Any]:
    from binance_lake.lake import Lake

    root = Path(tempfile.mkdtemp(prefix="scale-"))
    try:
        started = time.perf_counter()
        report = Lake(settings=settings_for(env, root)).sync(
            datasets="klines", symbols=symbols, cluster=cluster, **SELECTIONS[selection]
        )
        seconds = time.perf_counter() - started
        execution = report.execution
        assert execution is not None and report.ok, report.summary()["failed"]
        return {
            "files": execution.ingested,
            "bytes": execution.bytes,
            "rows": execution.rows,
            "seconds": seconds,
            "execute_seconds": execution.seconds,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def noop_item(item: Any) -> Any:
    """A work item (or a batch of them) that does nothing: what Dask and the client's fan-out cost alone."""
    from binance_lake.engine.cluster.work import failed_item

    return failed_item(item.as_item() if hasattr(item, "as_item") else item, "")


def filled_items(count: int, files: int, root: Path, settings: Any) -> list[Any]:
    """`count` work items of `files` 1h-klines files each, as the plan's `work_items` cuts them (one file: a
    monthly file of its own series and month; more: that many daily files of one series' month, up to 28):
    a no-op over them records one failed state a file, so the figure includes the client's recording of what
    an item returns."""
    import datetime as dt

    from binance_lake.core.archive import ArchiveFile
    from binance_lake.core.vocabulary import Cadence, Interval, Market
    from binance_lake.engine.cluster.work import work_items
    from binance_lake.engine.plan import CatalogFile, PlannedFile, Reason

    cadence = Cadence.MONTHLY if files == 1 else Cadence.DAILY
    planned = []
    for i in range(count):
        symbol, month = f"N{i // 120:03d}USDT", i % 120
        first = dt.date(2016 + month // 12, 1 + month % 12, 1)
        for day in range(files):
            file = ArchiveFile(Market.UM, cadence, "klines", symbol, Interval.H1, first.replace(day=1 + day))
            size = 60_000 if files == 1 else 2_000
            planned.append(PlannedFile(CatalogFile(file.key, file, size, f"etag-{i}-{day}"), Reason.NEW))
    items = work_items(planned, {}, root=root, settings=settings)
    assert len(items) == count
    return items


def overhead_per_item(
    cluster: Any, env: dict[str, str], items: int, *, noop: bool, files: int = 0
) -> tuple[float, float]:
    """Milliseconds per item of the client's fan-out over `items` items of `files` files each (none by
    default), after a warm-up pass: wall, and CPU of this process (the client and, for a `LocalCluster`,
    the scheduler)."""
    import distributed

    from binance_lake.engine.cluster import run as cluster_run
    from binance_lake.engine.cluster.spec import ClusterSpec
    from binance_lake.engine.cluster.work import WorkItem
    from binance_lake.engine.state import StateWriter
    from binance_lake.storage.database import LakeDatabase
    from binance_lake.storage.schema import ensure_schema

    root = Path(tempfile.mkdtemp(prefix="scale-noop-"))
    settings = settings_for(env, root)
    spec = ClusterSpec(address=cluster.scheduler_address, settings=settings)
    database = LakeDatabase(root)
    ensure_schema(database)
    executor = cluster_run.ClusterExecutor(spec, database, root)
    if files:
        work = filled_items(items, files, root, settings)
    else:
        work = [WorkItem(i, (), {}, root, settings) for i in range(items)]
    # The function the fan-out submits: `run_batch` where tasks are batches of items, else `run_item`.
    task = "run_batch" if hasattr(cluster_run, "run_batch") else "run_item"
    real = getattr(cluster_run, task)
    if noop:
        setattr(cluster_run, task, noop_item)

    async def go() -> tuple[float, float]:
        async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
            writer = StateWriter(database)
            async with writer:
                await executor._fan_out(client, work[:50], writer)  # warm-up
                started, cpu = time.perf_counter(), time.process_time()
                await executor._fan_out(client, work, writer)
                await writer.flush()  # what the fan-out gave the writer is recorded within the figure
                return time.perf_counter() - started, time.process_time() - cpu

    try:
        wall, cpu = asyncio.run(go())
        return wall / items * 1000, cpu / items * 1000
    finally:
        setattr(cluster_run, task, real)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--noop-items", type=int, default=400)
    parser.add_argument("--item-files", type=int, default=1, help="files of each recorded no-op item (1-28)")
    parser.add_argument("--overhead-only", action="store_true", help="only the overhead per item, no syncs")
    args = parser.parse_args()
    symbols = [f"B{i:03d}USDT" for i in range(args.symbols)]
    workers = [int(w) for w in args.workers.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    rows: list[dict[str, Any]] = []
    overhead: list[dict[str, Any]] = []
    try:
        for selection in ["small"] if args.overhead_only else SELECTIONS:
            universe = scratch / f"{selection}.toml"
            universe_toml(universe, symbols, selection)
            server, env = start_simulator(str(universe))
            try:
                if not args.overhead_only:
                    sync_once(env, symbols, selection, None)  # warm: the simulator renders each file once
                    rows.append(
                        {"selection": selection, "run": "local", **sync_once(env, symbols, selection, None)}
                    )
                for n in workers:
                    cluster, start_seconds = local_cluster(n)
                    with cluster:
                        # warm: workers' first use
                        sync_once(env, symbols, selection, cluster.scheduler_address)
                        if not args.overhead_only:
                            result = sync_once(env, symbols, selection, cluster.scheduler_address)
                            rows.append(
                                {
                                    "selection": selection,
                                    "run": f"local:{n}",
                                    "start": start_seconds,
                                    **result,
                                }
                            )
                        if selection == "small":
                            overhead.append(
                                {
                                    "workers": n,
                                    "noop_ms": overhead_per_item(cluster, env, args.noop_items, noop=True),
                                    "empty_item_ms": overhead_per_item(
                                        cluster, env, args.noop_items, noop=False
                                    ),
                                    "filled_ms": overhead_per_item(
                                        cluster, env, args.noop_items, noop=True, files=args.item_files
                                    ),
                                }
                            )
            finally:
                server.terminate()
                server.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"machine: {platform.machine()}, {platform.python_version()}, symbols {args.symbols}")
    print("| selection | run | files | MB | execute s | files/s | MB/s | vs local (time) | cluster start s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    anchor = {r["selection"]: r["execute_seconds"] for r in rows if r["run"] == "local"}
    for r in rows:
        s = r["execute_seconds"]
        print(
            f"| {r['selection']} | {r['run']} | {r['files']} | {r['bytes'] / 1e6:.1f} | {s:.2f} | "
            f"{r['files'] / s:.0f} | {r['bytes'] / 1e6 / s:.1f} | {s / anchor[r['selection']]:.2f} | "
            f"{r.get('start', 0.0):.2f} |"
        )
    print(
        "| workers | no-op item: wall ms | client+scheduler CPU ms | empty run_item: wall ms | CPU ms "
        f"| no-op item of {args.item_files} file(s), recorded: wall ms | CPU ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for o in overhead:
        (nw, nc), (ew, ec), (fw, fc) = o["noop_ms"], o["empty_item_ms"], o["filled_ms"]
        print(f"| {o['workers']} | {nw:.2f} | {nc:.2f} | {ew:.2f} | {ec:.2f} | {fw:.2f} | {fc:.2f} |")
    print(json.dumps({"rows": rows, "overhead": overhead}))


if __name__ == "__main__":
    main()
