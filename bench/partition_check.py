"""Benchmark: the cost of the sync's always-on partition check (one `os.stat` per held partition against the
lake's record of it, storage.inventory) in the planning of a no-op re-sync.

Builds a lake of `--symbols` x `--days` daily aggTrades partitions (tiny real Parquet files, their records
and `file_state` rows as a sync leaves them), then times, over `--repeat` runs (median): the planning of a
re-sync without the check (what the sync did before: read the recorded states, plan) and with it (also read
the partition records and stat every partition), all in one open database connection.

    .venv/bin/python bench/partition_check.py [--symbols 10] [--days 365] [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import partitions_of
from binance_lake.core.vocabulary import Cadence, Market
from binance_lake.engine.plan import CatalogFile, plan_sync
from binance_lake.engine.state import STATE_SCHEMA, FileState, FileStatus, record, recorded
from binance_lake.engine.sync import check_partitions
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PARTITIONS_SCHEMA, PartitionRecord, record_partitions, stat_of


def build(root: Path, symbols: int, days: int) -> tuple[list[CatalogFile], dt.date, dt.date]:
    first = dt.date(2023, 1, 1)
    last = first + dt.timedelta(days=days - 1)
    schema = get_dataset("aggTrades").schema(Market.UM)
    entries: list[CatalogFile] = []
    states: list[FileState] = []
    records: list[PartitionRecord] = []
    for n in range(symbols):
        symbol = f"S{n:03d}USDT"
        for i in range(days):
            file = ArchiveFile(
                Market.UM, Cadence.DAILY, "aggTrades", symbol, None, first + dt.timedelta(days=i)
            )
            entries.append(CatalogFile(file.key, file, 1000, "etag", True))
            states.append(FileState(file.key, file, FileStatus.INGESTED, etag="etag", size=1000, rows=0))
            (partition,) = partitions_of(file)
            path = root / partition.path
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(schema.empty_table(), path)
            seen = stat_of(path)
            assert seen is not None
            records.append(PartitionRecord(partition, 0, *seen))
    database = LakeDatabase(root)
    database.ensure_schema((*STATE_SCHEMA, *PARTITIONS_SCHEMA))
    with database.connect() as connection:
        record(connection, states)
        record_partitions(connection, records)
    return entries, first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        entries, first, last = build(root, args.symbols, args.days)
        database = LakeDatabase(root)
        before: list[float] = []
        after: list[float] = []
        check: list[float] = []
        with database.connect() as connection:
            for _ in range(args.repeat):
                started = time.perf_counter()
                held = recorded(connection, [e.key for e in entries])
                plan = plan_sync(entries, held, first, last)
                before.append(time.perf_counter() - started)
                assert plan.is_empty

                started = time.perf_counter()
                held = recorded(connection, [e.key for e in entries])
                checked = time.perf_counter()
                lost, inspection = check_partitions(connection, root, entries, held)
                check.append(time.perf_counter() - checked)
                plan = plan_sync(entries, held, first, last, lost=lost)
                after.append(time.perf_counter() - started)
                assert plan.is_empty and not inspection.damaged
    partitions = args.symbols * args.days
    print(f"{platform.machine()}, Python {platform.python_version()}: {partitions} partitions")
    print(f"plan of a no-op re-sync without the check: {statistics.median(before) * 1e3:.1f} ms")
    print(f"plan of a no-op re-sync with the check:    {statistics.median(after) * 1e3:.1f} ms")
    print(
        f"the check alone: {statistics.median(check) * 1e3:.1f} ms "
        f"({statistics.median(check) / partitions * 1e6:.1f} µs a partition)"
    )


if __name__ == "__main__":
    main()
