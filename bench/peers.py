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

* `binance-bulk-downloader` 1.1.0.1 (PyPI, same venv): `BinanceBulkDownloader(..., timeperiod_per_file=
  "monthly", symbols=[...]).run_download()` (S3 listing per symbol, then requests in a thread pool, unzipped to
  CSV; verifies nothing). Pointed at the simulator by setting its two URL class attributes
  (`_BINANCE_DATA_S3_BUCKET_URL`, `_BINANCE_DATA_DOWNLOAD_BASE_URL`) in its own process.
* `binance-historical-data` 0.1.14 (PyPI, same venv): `BinanceDataDumper(...).dump_data(tickers, start, end)`
  (one listing per symbol, then one urllib download after the other, unzipped to CSV; verifies nothing). It
  scrapes `var BUCKET_URL` from the archive's index page and asks the live exchangeInfo (and ipinfo.io) for
  the symbols, with no setting for either: in its own process, a small loopback server answers the index page
  with the simulator's listing URL and redirects every file to the simulator; `_base_url` is set to that
  server and `get_list_all_trading_pairs` returns the selection. It fetches monthly files only for months
  before the end date's month, so it is given the day after the selection as end (one 404 a symbol).

Files complete counts zips (binance-lake, datatool) or CSVs (the two that unzip).

    .venv/bin/python bench/peers.py --selection small --rounds 3 [--peers-venv /tmp/peers]
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from simprocess import MAIN, children_cpu, start_simulator, stop_simulator
from trees import compile_installed

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


BULK = """
import sys
from binance_bulk_downloader.downloader import BinanceBulkDownloader as Bulk
Bulk._BINANCE_DATA_S3_BUCKET_URL, Bulk._BINANCE_DATA_DOWNLOAD_BASE_URL = sys.argv[1], sys.argv[2]
out, interval, symbols = sys.argv[3], sys.argv[4], sys.argv[5].split(",")
Bulk(destination_dir=out, data_type="klines", data_frequency=interval, asset="um",
     timeperiod_per_file="monthly", symbols=symbols).run_download()
"""

HISTORICAL = """
import datetime as dt, http.server, sys, threading
from binance_historical_data import BinanceDataDumper
listing, archive, out, interval, symbols, start, end = sys.argv[1:8]
symbols = symbols.split(",")

class Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/?prefix="):  # the archive's index page, which names the bucket
            body = f"<script>var BUCKET_URL = '{listing}';</script>".encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(302); self.send_header("Location", archive + self.path); self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
threading.Thread(target=server.serve_forever, daemon=True).start()
init = BinanceDataDumper.__init__
def patched(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self._base_url = f"http://127.0.0.1:{server.server_address[1]}/data"
BinanceDataDumper.__init__ = patched
BinanceDataDumper.get_list_all_trading_pairs = lambda self: symbols
dumper = BinanceDataDumper(path_dir_where_to_dump=out, asset_class="um", data_type="klines",
                           data_frequency=interval)
dumper.dump_data(tickers=symbols, date_start=dt.date.fromisoformat(start), date_end=dt.date.fromisoformat(end))
"""


def universe_toml(path: Path, selection: str) -> None:
    chosen = SELECTIONS[selection]
    entries = [
        f'[[symbols]]\nmarket = "um"\nsymbol = "{s}"\nlisted = "{chosen["listed"]}"\n'
        f'delisted = "{chosen["delisted"]}"\nintervals = ["{chosen["interval"]}"]\ndatasets = ["klines"]\n'
        for s in chosen["symbols"]
    ]
    path.write_text(f"planned_sizes = {chosen['planned']}\n\n" + "\n".join(entries), encoding="utf-8")


CHILD_CPU = [0.0]
"""CPU seconds of the tools' processes (and theirs, e.g. aria2c), added up by `timed`: on a shared machine the
tools' CPU is steadier than their wall time."""


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    CHILD_CPU[0] += children_cpu() - cpu
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {result.returncode}: {result.stderr[-1500:]}")
    return seconds, result.stdout


def lake_command(selection: str) -> list[str]:
    """`binance-lake sync` of the selection, as a user runs it (a fresh process), with its JSON summary."""
    chosen = SELECTIONS[selection]
    return [
        sys.executable, "-c", MAIN, "sync", "--datasets", "klines", "--intervals", chosen["interval"],
        "--symbols", ",".join(chosen["symbols"]), "--start", chosen["listed"], "--end", chosen["delisted"],
        "--format", "json",
    ]  # fmt: skip


def run_lake(selection: str, sim: dict[str, str], root: Path) -> dict[str, Any]:
    env = {**os.environ, **sim, "BINANCE_LAKE_ROOT": str(root)}
    seconds, out = timed(lake_command(selection), env)
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


def _peer_env(out: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(out)}
    env.pop("PYTHONPATH", None)
    return env


def run_bulk(selection: str, sim: dict[str, str], out: Path, venv: Path) -> dict[str, Any]:
    chosen = SELECTIONS[selection]
    out.mkdir(parents=True, exist_ok=True)
    command = [str(venv / "bin" / "python"), "-c", BULK, sim["BINANCE_LAKE_LISTING_URL"],
               sim["BINANCE_LAKE_ARCHIVE_URL"], str(out), chosen["interval"], ",".join(chosen["symbols"])]  # fmt: skip
    seconds, _ = timed(command, _peer_env(out), cwd=out)
    return {"seconds": seconds, "files": len(list(out.rglob("*.csv"))), "verified": False}


def run_historical(selection: str, sim: dict[str, str], out: Path, venv: Path) -> dict[str, Any]:
    chosen = SELECTIONS[selection]
    out.mkdir(parents=True, exist_ok=True)
    end = dt.date.fromisoformat(chosen["delisted"]) + dt.timedelta(days=1)
    command = [str(venv / "bin" / "python"), "-c", HISTORICAL, sim["BINANCE_LAKE_LISTING_URL"],
               sim["BINANCE_LAKE_ARCHIVE_URL"], str(out), chosen["interval"], ",".join(chosen["symbols"]),
               chosen["listed"], end.isoformat()]  # fmt: skip
    seconds, _ = timed(command, _peer_env(out), cwd=out)
    return {"seconds": seconds, "files": len(list(out.rglob("*.csv"))), "verified": False}


def run_ceiling(sim: dict[str, str], keys: Path) -> dict[str, Any]:
    seconds, out = timed(
        [sys.executable, "-c", CEILING, sim["BINANCE_LAKE_ARCHIVE_URL"], str(keys)], dict(os.environ)
    )
    files, size = (int(x) for x in out.split())
    return {"seconds": seconds, "files": files, "bytes": size, "verified": True}


PEER_PACKAGES = (
    "binance-datatool==0.1.1",
    "binance-bulk-downloader==1.1.0.1",
    "binance-historical-data==0.1.14",
)


def ensure_peers(venv: Path) -> None:
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *PEER_PACKAGES],
        check=True,
    )


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
    if {"binance-datatool", "binance-bulk-downloader", "binance-historical-data"} & set(tools):
        ensure_peers(venv)
        if shutil.which("aria2c") is None:
            raise SystemExit("binance-datatool needs aria2c: apt-get install aria2")

    compile_installed()
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
                    CHILD_CPU[0] = 0.0
                    if tool == "ceiling":
                        figures = run_ceiling(sim, work / "keys.txt")
                    elif tool == "binance-lake":
                        figures = run_lake(args.selection, sim, out)
                    elif tool == "binance-bulk-downloader":
                        figures = run_bulk(args.selection, sim, out, venv)
                    elif tool == "binance-historical-data":
                        figures = run_historical(args.selection, sim, out, venv)
                    else:
                        figures = run_datatool(args.selection, sim, out, venv)
                    figures["load"] = os.getloadavg()[0]
                    figures["cpu_seconds"] = CHILD_CPU[0]
                    runs[tool].append(figures)
                    shutil.rmtree(out, ignore_errors=True)
                    print(tool, round_, json.dumps(figures), file=sys.stderr, flush=True)
        finally:
            stop_simulator(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"selection: {args.selection}, {len(keys)} files; {args.rounds} interleaved rounds, medians")
    lake = statistics.median(r["seconds"] for r in runs["binance-lake"]) if "binance-lake" in runs else None
    lake_cpu = statistics.median(r["cpu_seconds"] for r in runs["binance-lake"]) if lake else None
    print("| tool | wall s | CPU s | files | checksums | runs (wall s) | tool / binance-lake (wall, CPU) |")
    print("|---|---:|---:|---:|---|---|---:|")
    for tool, rs in runs.items():
        wall = statistics.median(r["seconds"] for r in rs)
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        each = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        ratio = f"{wall / lake:.2f}, {cpu / lake_cpu:.2f}" if lake and lake_cpu else "-"
        verified = "yes" if all(r["verified"] for r in rs) else "no"
        print(f"| {tool} | {wall:.2f} | {cpu:.2f} | {rs[0]['files']} | {verified} | {each} | {ratio} |")


if __name__ == "__main__":
    main()
