"""Benchmark: the sync's partition check (`storage.inventory.inspect`: each held partition against its record)
on an `s3://` lake, where each check is a HEAD request — the check every sync and `sync --repair` runs first.

Builds, on moto's S3 server (loopback), a lake of `--partitions` daily aggTrades partition objects with their
records, then times `inspect` over all of them (median of `--repeat` calls) in a child process per tree,
alternating `--base` (a pristine checkout's src/) and this tree, `--rounds` times: an interleaved A/B.

    .venv/bin/python bench/partition_check_s3.py --base /work/wt/base/src [--partitions 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

from scale_s3 import start_moto

CHILD = """
import json, statistics, sys, time
from pathlib import Path
from binance_lake.core.storage_settings import StorageSettings
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import inspect, recorded_partitions
state, url, endpoint, repeat = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
objects.attach_store(state, StorageSettings(url=url, endpoint_url=endpoint, region="us-east-1"))
with LakeDatabase(state).connect(read_only=True) as connection:
    paths = [str(r[0]) for r in connection.execute("SELECT path FROM partitions").fetchall()]
    records = recorded_partitions(connection, paths)
times = []
for _ in range(repeat + 1):
    started = time.perf_counter()
    found = inspect(state, paths, records)
    times.append(time.perf_counter() - started)
assert not found.damaged, found.damaged
print(json.dumps({"partitions": len(paths), "median_s": statistics.median(times[1:])}))
"""


def build(state: Path, url: str, endpoint: str, partitions: int) -> None:
    from binance_lake.core.datasets import get_dataset
    from binance_lake.core.partitions import partition_for_day
    from binance_lake.core.storage_settings import StorageSettings
    from binance_lake.core.vocabulary import Market
    from binance_lake.storage import objects
    from binance_lake.storage.database import LakeDatabase
    from binance_lake.storage.inventory import PARTITIONS_SCHEMA, PartitionRecord, record_partitions
    from binance_lake.storage.parquet import write_table_atomic

    objects.attach_store(state, StorageSettings(url=url, endpoint_url=endpoint, region="us-east-1"))
    empty = get_dataset("aggTrades").schema(Market.UM).empty_table()
    records = []
    for n in range(partitions):
        partition = partition_for_day(
            "aggTrades", Market.UM, None, f"S{n % 4}USDT", dt.date(2024, 1, 1) + dt.timedelta(days=n // 4)
        )
        write_table_atomic(state / partition.path, empty)
        seen = objects.stat(state / partition.path)
        assert seen is not None
        records.append(PartitionRecord(partition, 0, *seen))
    database = LakeDatabase(state)
    database.ensure_schema(PARTITIONS_SCHEMA)
    with database.connect() as connection:
        record_partitions(connection, records)
    objects.unmount(state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="src/ of the pristine tree to compare with")
    parser.add_argument("--partitions", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mine = str(Path(__file__).resolve().parents[1] / "src")
    moto, endpoint = start_moto()
    try:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        os.environ.update(env)
        host = endpoint.removeprefix("http://")
        fs = pafs.S3FileSystem(
            endpoint_override=host, scheme="http", region="us-east-1", allow_bucket_creation=True
        )
        fs.create_dir("bench")
        url = "s3://bench/lake"
        with tempfile.TemporaryDirectory() as scratch:
            state = Path(scratch) / "state"
            build(state, url, endpoint, args.partitions)
            results: dict[str, list[float]] = {"base": [], "this tree": []}
            for _ in range(args.rounds):
                for name, src in (("base", args.base), ("this tree", mine)):
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, str(state), url, endpoint, str(args.repeat)],
                        env={**env, "PYTHONPATH": src},
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results[name].append(json.loads(out.stdout)["median_s"])
                    print(name, f"{results[name][-1] * 1000:.0f} ms", flush=True)
        base = statistics.median(results["base"])
        this = statistics.median(results["this tree"])
        print(
            f"\n{args.partitions} partition objects, {platform.machine()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}: base {base * 1000:.0f} ms, this tree {this * 1000:.0f} ms, "
            f"ratio {this / base:.2f}"
        )
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
