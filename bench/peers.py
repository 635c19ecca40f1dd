"""Benchmark: binance-lake against its peers and the wire, on the same files served on loopback.

The simulator (`binance-lake sim serve`, its own process) serves a universe holding exactly the selection:

  small: 50 UM perpetuals x 24 monthly 1h kline zips (2024-10 .. 2026-09) = 1200 files;
  big:   40 UM perpetuals x one monthly 1m kline zip (2026-10) = 40 files of 44,640 rows.

A first `binance-lake sync` fills the simulator's cache, so the measured runs are bound by the clients. Then,
in `--rounds` interleaved rounds (the order rotates every round), each tool runs end to end from an empty
directory, as a user would start it (a fresh process; listing included where the tool lists):

* `ceiling`: the wire's limit, a 30-line aiohttp client in a child process: GET of every zip (keys known, no
  listing) at 32 in flight, SHA-256 of each; nothing written.
* `binance-lake`: `binance-lake sync` (listing, `.CHECKSUM` + zip, SHA-256 verified, typed Parquet, state).
* `binance-datatool` (PyPI, installed into a throw-away venv with `--peers-venv`; needs `aria2c`, Debian
  `aria2`): `download` (S3 listing, then aria2c) and `verify` (SHA-256 against `.CHECKSUM`).
  It has no base-URL setting, so it is pointed at the simulator by a monkeypatch of its two URL constants
  (`archive.client.S3_LISTING_PREFIX`, `workflow.results.S3_DOWNLOAD_PREFIX`) in its own process, before its
  CLI starts; nothing else of it is changed.

binance-bulk-downloader and binance-historical-data (the issue's slower peers, which verify nothing) are not
run here yet.

    .venv/bin/python bench/peers.py --selection small --rounds 3 [--peers-venv /tmp/peers]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from simprocess import MAIN, start_simulator

SELECTIONS: dict[str, dict[str, Any]] = {
    "small": {
        "symbols": [f"B{i:03d}USDT" for i in range(50)],
        "interval": "1h",
        "listed": "2024-10-01",
        "delisted": "2026-09-30",
        "planned": "true",
    },
    "big": {
        "symbols": [f"B{i:03d}USDT" for i in range(40)],
        "interval": "1m",
        "listed": "2026-10-01",
        "delisted": "2026-10-31",
        "planned": "false",
    },
}

CEILING = """
import asyncio, hashlib, sys, aiohttp
async def main(base, keys):
    gate, total = asyncio.Semaphore(32), [0, 0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        async def one(key):
            async with gate, session.get(f"{base}/{key}") as response:
                response.raise_for_status()
                digest = hashlib.sha256()
                async for chunk in response.content.iter_chunked(1 << 16):
                    digest.update(chunk)
                    total[1] += len(chunk)
                total[0] += 1
        await asyncio.gather(*(one(k) for k in keys))
    print(total[0], total[1])
asyncio.run(main(sys.argv[1], open(sys.argv[2]).read().split()))
"""

DATATOOL = """
import sys
import binance_datatool.archive.client as client
import binance_datatool.workflow.results as results
client.S3_LISTING_PREFIX, results.S3_DOWNLOAD_PREFIX = sys.argv[1], sys.argv[2]
from binance_datatool.cli import app
sys.argv = ["binance-datatool", *sys.argv[3:]]
app()
"""


def universe_toml(path: Path, selection: str) -> None:
    chosen = SELECTIONS[selection]
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "{chosen["listed"]}"\n'
        f'delisted = "{chosen["delisted"]}"\nintervals = ["{chosen["interval"]}"]\ndatasets = ["klines"]\n'
        for s in chosen["symbols"]
    ]
    path.write_text(f"planned_sizes = {chosen['planned']}\n\n" + "\n".join(entries), encoding="utf-8")


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {result.returncode}: {result.stderr[-1500:]}")
    return seconds, result.stdout


def run_lake(selection: str, sim: dict[str, str], root: Path) -> dict[str, Any]:
    chosen = SELECTIONS[selection]
    env = {**os.environ, **sim, "BINANCE_LAKE_ROOT": str(root)}
    command = [
        sys.executable, "-c", MAIN, "sync", "--datasets", "klines", "--intervals", chosen["interval"],
        "--symbols", ",".join(chosen["symbols"]), "--start", chosen["listed"], "--end", chosen["delisted"],
        "--format", "json",
    ]  # fmt: skip
    seconds, out = timed(command, env)
    summary = json.loads(out)
    files = len(list((root / "raw").rglob("*.zip")))
    ok = not summary.get("failed") and not summary.get("quarantined")
    return {"seconds": seconds, "execute": summary["seconds"], "files": files, "verified": ok}


def run_datatool(selection: str, sim: dict[str, str], home: Path, venv: Path) -> dict[str, Any]:
    chosen = SELECTIONS[selection]
    base = sim["BINANCE_LAKE_ARCHIVE_URL"]
    env = {**os.environ, "BINANCE_DATATOOL_ARCHIVE_HOME": str(home)}
    env.pop("PYTHONPATH", None)
    python = str(venv / "bin" / "python")
    args = [
        "um",
        *chosen["symbols"],
        "--freq",
        "monthly",
        "--type",
        "klines",
        "--interval",
        chosen["interval"],
    ]
    prefix = [python, "-c", DATATOOL, sim["BINANCE_LAKE_LISTING_URL"], base]
    download, _ = timed([*prefix, "download", *args], env)
    verify, _ = timed([*prefix, "verify", *args], env)
    files = len(list(home.rglob("*.zip")))
    return {"seconds": download + verify, "download": download, "verify": verify, "files": files,
            "verified": True}  # fmt: skip


def run_ceiling(sim: dict[str, str], keys: Path) -> dict[str, Any]:
    seconds, out = timed(
        [sys.executable, "-c", CEILING, sim["BINANCE_LAKE_ARCHIVE_URL"], str(keys)], dict(os.environ)
    )
    files, size = (int(x) for x in out.split())
    return {"seconds": seconds, "files": files, "bytes": size, "verified": True}


def ensure_peers(venv: Path) -> None:
    if (venv / "bin" / "python").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "binance-datatool==0.1.1"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--selection", choices=tuple(SELECTIONS), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-venv", default=str(Path(tempfile.gettempdir()) / "binance-lake-peers"))
    parser.add_argument("--tools", default="ceiling,binance-lake,binance-datatool")
    args = parser.parse_args()
    tools = args.tools.split(",")
    venv = Path(args.peers_venv)
    if "binance-datatool" in tools:
        ensure_peers(venv)
        if shutil.which("aria2c") is None:
            raise SystemExit("binance-datatool needs aria2c: apt-get install aria2")

    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    try:
        universe_toml(work / "universe.toml", args.selection)
        server, sim = start_simulator(str(work / "universe.toml"))
        try:
            run_lake(args.selection, sim, work / "warm-up")  # the simulator renders and caches every file
            keys = sorted(
                str(p.relative_to(work / "warm-up" / "raw"))
                for p in (work / "warm-up" / "raw").rglob("*.zip")
            )
            (work / "keys.txt").write_text("\n".join(keys), encoding="utf-8")
            for round_ in range(args.rounds):
                for tool in tools[round_ % len(tools) :] + tools[: round_ % len(tools)]:
                    out = work / f"{tool}-{round_}"
                    if tool == "ceiling":
                        figures = run_ceiling(sim, work / "keys.txt")
                    elif tool == "binance-lake":
                        figures = run_lake(args.selection, sim, out)
                    else:
                        figures = run_datatool(args.selection, sim, out, venv)
                    figures["load"] = os.getloadavg()[0]
                    runs[tool].append(figures)
                    shutil.rmtree(out, ignore_errors=True)
                    print(tool, round_, json.dumps(figures), file=sys.stderr, flush=True)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"selection: {args.selection}, {len(keys)} files; {args.rounds} interleaved rounds, medians")
    lake = statistics.median(r["seconds"] for r in runs["binance-lake"]) if "binance-lake" in runs else None
    print("| tool | wall s | files | checksums | runs (wall s) | tool / binance-lake |")
    print("|---|---:|---:|---|---|---:|")
    for tool, rs in runs.items():
        wall = statistics.median(r["seconds"] for r in rs)
        each = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        ratio = f"{wall / lake:.2f}" if lake else "-"
        verified = "yes" if all(r["verified"] for r in rs) else "no"
        print(f"| {tool} | {wall:.2f} | {rs[0]['files']} | {verified} | {each} | {ratio} |")


if __name__ == "__main__":
    main()
