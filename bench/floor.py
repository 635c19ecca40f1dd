"""Benchmark: the floor of a sync of a bench/peers.py selection on this machine, beside binance-datatool and
binance-lake — how fast any sync could be that does what the lake's sync must, and so whether issue 12's
goal (a sync 3x faster than binance-datatool) is reachable here.

What a sync of the selection cannot do without, each part measured alone with the least code that does it:

* `imports`: a fresh process importing what a sync needs (`binance_lake.cli.app`, `binance_lake.facade.sync`,
  so Python, pyarrow, DuckDB, aiohttp). Nothing else can start before them, so they are on the critical path
  on one core;
* `requests`: bench/peers.py's 30-line aiohttp ceiling client fetching every zip *and* its `.CHECKSUM` (both
  are needed to verify), SHA-256 of each body, nothing written: its CPU and the simulator's CPU serving it
  (read from /proc: the server shares the machine's cores with the client, as it does in every run). The
  listing (a few dozen requests for these selections) is left out;
* `ingest`: timed inside its own process after its imports: the selection's zips inflated and parsed
  together (`binance.csv_parse.parse_files`, in the executor's batches of `INGEST_BATCH_BYTES`) and each
  month written as one zstd Parquet file with the lake's writer options, to a temporary name renamed into
  place (the atomic publish DESIGN.md asks for). No fsync, no bookkeeping, no state: less than the lake does;
* `cores`: how many cores two CPU-bound processes get here — two copies of the `ingest` part at once against
  one alone (2.0 on two idle physical cores; less on shared or hyper-threaded vCPUs).

The floor is the imports, then every other part's CPU seconds divided by `cores` (perfect overlap, no
overhead at all). It is printed beside the medians of binance-datatool and binance-lake (run as bench/peers.py
runs them, interleaved with the parts) and the 3x goal, and `--selection big` also gives the floor of issue
12's ingest goals (files and rows per CPU-second).

    .venv/bin/python bench/floor.py --selection small --rounds 3
"""

from __future__ import annotations

import argparse
import io
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

from peers import (
    CEILING,
    CHILD_CPU,
    SELECTIONS,
    ensure_peers,
    run_datatool,
    run_lake,
    timed,
    universe_toml,
)
from simprocess import start_simulator, stop_simulator
from trees import compile_installed

IMPORTS = "import binance_lake.cli.app, binance_lake.facade.sync"


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest_floor(raw: Path) -> str:
    """The `ingest` part, in this process: its wall and CPU seconds after the imports, and the rows written."""
    import pyarrow.parquet as pq

    from binance_lake.binance.csv_parse import parse_files
    from binance_lake.storage.parquet import ROW_GROUP_ROWS, writer_options
    from ingest_parallel import _batches, _groups

    batches = _batches(_groups(raw))
    out = Path(tempfile.mkdtemp(prefix="bench-floor-ingest-"))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        rows = 0
        for number, batch in enumerate(batches):
            tables = parse_files([(item.path, item.file) for _, group in batch for item in group])
            rows += sum(table.num_rows for table in tables)
            folder = out / str(number)
            folder.mkdir()
            for index, table in enumerate(tables):
                temp, path = folder / f"{index}.tmp", folder / f"{index}.parquet"
                pq.write_table(table, temp, row_group_size=ROW_GROUP_ROWS, **writer_options(table.schema))
                temp.replace(path)
        return f"{time.perf_counter() - started} {time.process_time() - cpu} {rows}"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _child(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


def measure_ingest(raw: Path, copies: int) -> dict[str, float]:
    """`copies` processes of the `ingest` part started at once, each timing its work after its imports: the
    longest wall seconds, the mean CPU seconds of one, the rows written by one."""
    processes = [
        subprocess.Popen(_child("--child-ingest", str(raw)), stdout=subprocess.PIPE, text=True)
        for _ in range(copies)
    ]
    outputs = [p.communicate()[0] for p in processes]
    if any(p.returncode != 0 for p in processes):
        raise RuntimeError("the ingest floor's child failed")
    figures = [[float(x) for x in out.split()] for out in outputs]
    return {
        "seconds": max(wall for wall, _, _ in figures),
        "cpu": statistics.mean(cpu for _, cpu, _ in figures),
        "rows": figures[0][2],
    }


def measure_requests(sim: dict[str, str], server: int, keys: Path) -> dict[str, float]:
    sim_cpu = process_cpu(server)
    CHILD_CPU[0] = 0.0
    seconds, _ = timed(
        [sys.executable, "-c", CEILING, sim["BINANCE_LAKE_ARCHIVE_URL"], str(keys)], dict(os.environ)
    )
    return {"seconds": seconds, "cpu": CHILD_CPU[0], "server_cpu": process_cpu(server) - sim_cpu}


def measure_imports() -> dict[str, float]:
    CHILD_CPU[0] = 0.0
    seconds, _ = timed([sys.executable, "-c", IMPORTS], dict(os.environ))
    return {"seconds": seconds, "cpu": CHILD_CPU[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--selection", choices=tuple(SELECTIONS), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-venv", default=str(Path(tempfile.gettempdir()) / "binance-lake-peers"))
    parser.add_argument("--child-ingest", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ingest:
        print(ingest_floor(Path(args.child_ingest)))
        return
    venv = Path(args.peers_venv)
    ensure_peers(venv)
    if shutil.which("aria2c") is None:
        raise SystemExit("binance-datatool needs aria2c: apt-get install aria2")

    compile_installed()
    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        universe_toml(work / "universe.toml", args.selection)
        server, sim = start_simulator(str(work / "universe.toml"))
        try:
            warm = work / "warm-up"
            run_lake(args.selection, sim, warm)  # the simulator renders and caches every file
            zips = sorted(str(p.relative_to(warm / "raw")) for p in (warm / "raw").rglob("*.zip"))
            keys = work / "keys.txt"
            keys.write_text("\n".join(zips + [f"{k}.CHECKSUM" for k in zips]), encoding="utf-8")
            steps: dict[str, Any] = {
                "imports": measure_imports,
                "requests": lambda: measure_requests(sim, server.pid, keys),
                "ingest, 1 process": lambda: measure_ingest(warm / "raw", 1),
                "ingest, 2 processes": lambda: measure_ingest(warm / "raw", 2),
                "binance-datatool": lambda: _tool(run_datatool, args.selection, sim, work, venv),
                "binance-lake": lambda: _tool(run_lake, args.selection, sim, work),
            }
            for round_ in range(args.rounds):
                names = list(steps)
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    figures = steps[name]()
                    runs.setdefault(name, []).append(figures)
                    print(name, round_, figures, file=sys.stderr, flush=True)
        finally:
            stop_simulator(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args.selection, len(zips), args.rounds, runs)


def _tool(run: Any, selection: str, sim: dict[str, str], work: Path, *more: Any) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(dir=work))
    CHILD_CPU[0] = 0.0
    figures = run(selection, sim, out, *more)
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": figures["seconds"], "cpu": CHILD_CPU[0]}


def report(selection: str, files: int, rounds: int, runs: dict[str, list[dict[str, float]]]) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(r[field] for r in runs[name])

    one, two = median("ingest, 1 process", "seconds"), median("ingest, 2 processes", "seconds")
    cores = min(2.0, 2 * one / two)
    parts = {
        "imports (a fresh process)": median("imports", "cpu"),
        f"requests: the ceiling client, {2 * files} GETs + SHA-256": median("requests", "cpu"),
        "requests: the simulator serving them": median("requests", "server_cpu"),
        f"ingest: parse + one zstd Parquet file a month, {files} files, renamed into place": median(
            "ingest, 1 process", "cpu"
        ),
    }
    imports = parts["imports (a fresh process)"]
    cpu = sum(parts.values())
    floor = imports + (cpu - imports) / cores
    datatool, lake = median("binance-datatool", "seconds"), median("binance-lake", "seconds")
    ingest_cpu, rows = median("ingest, 1 process", "cpu"), median("ingest, 1 process", "rows")
    out = io.StringIO()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", file=out
    )
    print(f"selection: {selection}, {files} files; {rounds} interleaved rounds, medians", file=out)
    print("| part | CPU s |\n|---|---:|", file=out)
    for name, seconds in parts.items():
        print(f"| {name} | {seconds:.2f} |", file=out)
    print(f"| **all parts** | **{cpu:.2f}** |", file=out)
    print(
        f"\ncores two CPU-bound processes get: {cores:.2f} (the ingest alone {one:.2f} s, two at once {two:.2f} s)",
        file=out,
    )
    print(
        f"the ingest's floor per CPU-second: {files / ingest_cpu:,.0f} files, {rows / ingest_cpu:,.0f} rows",
        file=out,
    )
    print("\n| | wall s |\n|---|---:|", file=out)
    print(f"| floor (imports + the other parts / cores) | {floor:.2f} |", file=out)
    print(f"| binance-datatool | {datatool:.2f} |", file=out)
    print(f"| goal: 3x binance-datatool | {datatool / 3:.2f} |", file=out)
    print(f"| binance-lake | {lake:.2f} |", file=out)
    verdict = "below the floor: not reachable here" if datatool / 3 < floor else "above the floor"
    print(
        f"\nthe goal is {verdict} (floor / goal {3 * floor / datatool:.2f}); binance-lake is {lake / floor:.2f}x the floor",
        file=out,
    )
    print(out.getvalue(), end="")


if __name__ == "__main__":
    main()
