"""Benchmark: reading an `s3://` lake (moto's S3 server on loopback) against the same lake on local disk.

The object-storage half of issue 17's figures (bench/scale_cluster.py, the issue's `bench/scale.py`, is the
Dask half). One symbol-year of 1m klines (2025: 12 monthly partitions, 525,600 rows) is synced from the
simulator into a local root and into an s3:// root; then, median of `--repeat` runs each:

  sync   `Lake.sync` of the symbol-year from a warm simulator into each root (12 monthly zips, raw zips kept).
  load   `Lake.load` of the symbol-year (Arrow): local files vs objects (pyarrow.fs.S3FileSystem).
  sql    one aggregate over the symbol-year, three ways: DuckDB `read_parquet` over the local files (anchor);
         `Lake.sql` on the s3 lake, i.e. a `pyarrow.dataset` over the recorded objects scanned by DuckDB;
         DuckDB `read_parquet` of the same objects through an fsspec filesystem registered with
         `register_filesystem` (fsspec's `ArrowFSWrapper` around the same pyarrow S3 client, since DuckDB
         cannot download httpfs here).

moto is an in-memory Python server, slower per request than S3 and without its ~20-50 ms first-byte latency, so
the ratios say what our side costs (requests and decoding), not what a real bucket would take.

    .venv/bin/python bench/scale_s3.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.fs as pafs

from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage import objects

WINDOW = {"symbols": "BTCUSDT", "start": "2025-01-01", "end": "2025-12-31"}
QUERY = "SELECT date_trunc('month', open_time) AS m, count(*) AS n, avg(close) AS c, sum(volume) AS v FROM {} GROUP BY 1 ORDER BY 1"


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto_server did not start (pip install 'moto[server]')")


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: imports, the DuckDB instance, connection pools
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    moto, endpoint = start_moto()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    host = endpoint.removeprefix("http://")
    s3 = pafs.S3FileSystem(
        endpoint_override=host, scheme="http", region="us-east-1", allow_bucket_creation=True
    )
    s3.create_dir("bench")
    try:
        with tempfile.TemporaryDirectory() as scratch, SimServer(Universe.build("small")) as server:
            os.environ["BINANCE_LAKE_STATE_DIR"] = str(Path(scratch) / "state")
            local = Lake(Path(scratch) / "local", settings=server.settings())
            remote = Lake("s3://bench/lake", settings=server.settings())
            # A first sync renders every file in the simulator (cold); the measured ones read its cache.
            assert (
                Lake(Path(scratch) / "warm-up", settings=server.settings())
                .sync(datasets="klines", intervals="1m", **WINDOW)
                .ok
            )
            synced = {}
            for lake in (local, remote):
                started = time.perf_counter()
                assert lake.sync(datasets="klines", intervals="1m", **WINDOW).ok
                synced[lake.settings.storage.url or "local"] = time.perf_counter() - started
            rows = local.load("klines", interval="1m", as_="arrow", **WINDOW).num_rows
            assert remote.load("klines", interval="1m", as_="arrow", **WINDOW).num_rows == rows

            def load(lake: Lake) -> Callable[[], Any]:
                return lambda: lake.load("klines", interval="1m", as_="arrow", **WINDOW)

            files = sorted((local.root / "tables" / "klines").rglob("*.parquet"))
            local_scan = f"read_parquet({[str(p) for p in files]})"

            def local_sql() -> Any:
                with duckdb.connect() as connection:
                    return connection.sql(QUERY.format(local_scan)).to_arrow_table()

            def lake_sql() -> Any:
                return remote.sql(QUERY.format("klines"), as_="arrow")

            from fsspec.implementations.arrow import ArrowFSWrapper

            wrapped = ArrowFSWrapper(objects.store_of(remote.root).filesystem)  # type: ignore[union-attr]
            keys = [f"s3://bench/lake/{p.relative_to(local.root).as_posix()}" for p in files]
            fsspec_scan = f"read_parquet({keys})"

            failures = {"threads": 0}

            def fsspec_sql(threads: int | None = None) -> Any:
                with duckdb.connect() as connection:
                    connection.register_filesystem(wrapped)
                    if threads:
                        connection.execute(f"SET threads = {threads}")
                    try:
                        return connection.sql(QUERY.format(fsspec_scan)).to_arrow_table()
                    except duckdb.Error:
                        # Seen with DuckDB's threads sharing fsspec file objects: a footer read of wrong bytes
                        # ("TProtocolException: Exceeded size limit"). Counted, and the query run again.
                        failures["threads"] += 1
                        return fsspec_sql(threads)

            def rounded(table: Any) -> list[tuple[Any, ...]]:
                # Sums of floats differ in the last bits with the order DuckDB's threads add them in.
                return [(r["m"], r["n"], round(r["c"], 6), round(r["v"], 3)) for r in table.to_pylist()]

            assert rounded(lake_sql()) == rounded(local_sql()) == rounded(fsspec_sql(1))
            figures = {
                "load, local files": median_seconds(load(local), args.repeat),
                "load, s3 objects": median_seconds(load(remote), args.repeat),
                "sql, local read_parquet (anchor)": median_seconds(local_sql, args.repeat),
                "sql, s3: Lake.sql (pyarrow.dataset)": median_seconds(lake_sql, args.repeat),
                "sql, s3: DuckDB + fsspec, 1 thread": median_seconds(lambda: fsspec_sql(1), args.repeat),
                "sql, s3: DuckDB + fsspec": median_seconds(fsspec_sql, args.repeat),
            }
    finally:
        moto.terminate()
        moto.wait(10)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"one symbol-year of 1m klines: {rows:,} rows in {len(files)} monthly partitions; median of {args.repeat}"
    )
    for where, seconds in synced.items():
        print(
            f"  sync of the symbol-year into {where:24s} {seconds:6.1f} s   x{seconds / synced['local']:.2f} of local"
        )
    anchors = {"load": figures["load, local files"], "sql": figures["sql, local read_parquet (anchor)"]}
    for name, seconds in figures.items():
        ratio = seconds / anchors[name.split(",")[0]]
        print(f"  {name:40s} {seconds * 1000:8.1f} ms   x{ratio:.2f} of local")
    print(f"DuckDB + fsspec queries that failed and were run again: {failures['threads']}")


if __name__ == "__main__":
    main()
