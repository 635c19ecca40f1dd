"""Benchmark: `Lake.sync` against the simulator on loopback, a naive baseline, and ingest alone.

The simulator runs in its own process (`binance-lake sim serve`) over a universe of UM perpetuals generated
per selection (see `universe_toml`; the medium universe's generated symbols offer no 1m bars). Two
selections, each synced into a fresh lake in a child process (so its peak RSS is its own):

  (a) two years (2024-10 .. 2026-09) of 1h klines for 50 symbols: 1200 monthly files of ~720 rows;
  (b) one month (2026-10) of 1m klines for 100 symbols: 100 monthly files of 44640 rows.

A first pass syncs each into a scratch lake ("cold"): the simulator renders every file once (cold) and keeps it in
its cache, so the measured passes are bound by the client, not the server. The baseline fetches the same
files one after the other (urllib), reads each with `pandas.read_csv` and writes it with `to_parquet`: no
checksum, no de-duplication, no merge. "Ingest alone" re-runs the engine's ingest over the verified zips
the measured sync left in `raw/`, in one thread: rows/s per core.

    .venv/bin/python bench/sync.py [--concurrency 16]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from simprocess import start_simulator, stop_simulator

SYMBOLS = [f"B{i:03d}USDT" for i in range(100)]
SELECTIONS: dict[str, dict[str, Any]] = {
    "a": {
        "label": "(a) 2 y of 1h klines, 50 symbols",
        "symbols": SYMBOLS[:50],
        "intervals": "1h",
        "start": "2024-10-01",
        "end": "2026-09-30",
    },
    "b": {
        "label": "(b) 1 month of 1m klines, 100 symbols",
        "symbols": SYMBOLS,
        "intervals": "1m",
        "start": "2026-10-01",
        "end": "2026-10-31",
    },
}


def universe_toml(path: Path, selection: str) -> None:
    """(a): symbols listed 2022-06 with listing sizes planned arithmetically (zips padded to them, as in the
    large universe), else the first listing of each directory renders its ~1500 daily files. (b): exact
    sizes, symbols listed 2026-09-25 so each 1m directory holds few daily files."""
    listed, planned = ("2022-06-01", "true") if selection == "a" else ("2026-09-25", "false")
    interval = SELECTIONS[selection]["intervals"]
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "{listed}"\n'
        f'intervals = ["{interval}"]\ndatasets = ["klines"]\n'
        for s in SELECTIONS[selection]["symbols"]
    ]
    path.write_text(f"planned_sizes = {planned}\n\n" + "\n".join(entries), encoding="utf-8")


def start_server(universe: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    return start_simulator(str(universe))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# -- child processes ------------------------------------------------------------------------------------


def worker_sync(root: Path, selection: str, concurrency: int) -> dict[str, Any]:
    from binance_lake.lake import Lake

    chosen = SELECTIONS[selection]
    started = time.perf_counter()
    report = Lake(root).sync(
        datasets="klines",
        symbols=chosen["symbols"],
        intervals=chosen["intervals"],
        start=chosen["start"],
        end=chosen["end"],
        concurrency=concurrency,
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
        "refresh_seconds": report.refresh.seconds if report.refresh else 0.0,
        "peak_rss_mb": peak_rss_mb(),
        "keys": [p.key for p in report.plan.fetch],
    }


def worker_baseline(root: Path, keys: list[str]) -> dict[str, Any]:
    import pandas as pd

    base = os.environ["BINANCE_LAKE_ARCHIVE_URL"]
    names = [
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
        "taker_buy_volume", "taker_buy_quote_volume", "ignore",
    ]  # fmt: skip
    started = time.perf_counter()
    rows = size = 0
    for key in keys:
        with urllib.request.urlopen(f"{base}/{key}") as response:
            body = response.read()
        size += len(body)
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            text = archive.read(archive.namelist()[0])
        has_header = not text[:1].isdigit()
        frame = pd.read_csv(io.BytesIO(text), header=None, names=names, skiprows=1 if has_header else 0)
        out = root / key.replace(".zip", ".parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out)
        rows += len(frame)
    return {"files": len(keys), "bytes": size, "rows": rows, "seconds": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def worker_ingest(lake_root: Path, scratch: Path) -> dict[str, Any]:
    from binance_lake.core.archive import ParsedKey, parse_key
    from binance_lake.engine.ingest import Verified, group_for_ingest, ingest

    items = []
    for path in sorted((lake_root / "raw").rglob("*.zip")):
        parsed = parse_key(str(path.relative_to(lake_root / "raw")))
        assert isinstance(parsed, ParsedKey)
        items.append(Verified(parsed.key, parsed.file, path))
    groups = group_for_ingest(items)
    cpu, started = time.process_time(), time.perf_counter()
    rows = sum(sum(ingest(scratch, target, group).values()) for target, group in groups.items())
    return {"files": len(items), "rows": rows, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu}  # fmt: skip


def child(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args}: {result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# -- main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--worker", choices=("sync", "baseline", "ingest"))
    parser.add_argument("--root")
    parser.add_argument("--selection", choices=tuple(SELECTIONS))
    parser.add_argument("--keys", help="file with one key a line (baseline)")
    parser.add_argument("--scratch")
    args = parser.parse_args()
    if args.worker == "sync":
        print(json.dumps(worker_sync(Path(args.root), args.selection, args.concurrency)))
        return
    if args.worker == "baseline":
        keys = Path(args.keys).read_text(encoding="utf-8").split()
        print(json.dumps(worker_baseline(Path(args.root), keys)))
        return
    if args.worker == "ingest":
        print(json.dumps(worker_ingest(Path(args.root), Path(args.scratch))))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for name in SELECTIONS:
            universe_toml(work / f"{name}.toml", name)
            server, env = start_server(work / f"{name}.toml")
            try:
                concurrency = str(args.concurrency)
                cold = child(env, "--worker", "sync", "--root", str(work / f"{name}-cold"), "--selection", name,
                             "--concurrency", concurrency)  # fmt: skip
                warm = child(env, "--worker", "sync", "--root", str(work / name), "--selection", name,
                             "--concurrency", concurrency)  # fmt: skip
                (work / f"{name}.keys").write_text("\n".join(warm["keys"]), encoding="utf-8")
                baseline = child(env, "--worker", "baseline", "--root", str(work / f"{name}-naive"),
                                 "--keys", str(work / f"{name}.keys"))  # fmt: skip
                (work / f"{name}-ingest").mkdir()
                ingest = child(env, "--worker", "ingest", "--root", str(work / name),
                               "--scratch", str(work / f"{name}-ingest"))  # fmt: skip
            finally:
                stop_simulator(server)
            results[name] = {"cold": cold, "warm": warm, "baseline": baseline, "ingest": ingest}
            for run in results[name].values():
                run.pop("keys", None)
            print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| selection | run | files | MB | rows | seconds | files/s | MB/s | rows/s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        for run in ("cold", "warm", "baseline"):
            r = runs[run]
            s = r["seconds"]
            print(
                f"| {SELECTIONS[name]['label']} | {run} | {r['files']} | {r['bytes'] / 1e6:.1f} | {r['rows']:,} "
                f"| {s:.2f} | {r['files'] / s:.0f} | {r['bytes'] / 1e6 / s:.1f} | {r['rows'] / s:,.0f} "
                f"| {r['peak_rss_mb']:.0f} |"
            )
    print()
    print("| selection | sync (warm) vs naive | refresh s | execute s | ingest alone rows/s per core |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        ratio = runs["baseline"]["seconds"] / runs["warm"]["seconds"]
        ingest = runs["ingest"]
        per_core = ingest["rows"] / ingest["cpu_seconds"]
        print(
            f"| {SELECTIONS[name]['label']} | {ratio:.1f}x | {runs['warm']['refresh_seconds']:.2f} "
            f"| {runs['warm']['execute_seconds']:.2f} | {per_core:,.0f} ({ingest['rows'] / ingest['seconds']:,.0f} wall) |"
        )


if __name__ == "__main__":
    main()
