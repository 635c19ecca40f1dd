"""Benchmark: `Lake.check` over 300 symbol-years of 1h klines + 10 symbol-years of 1m — every series scanned
(`--full`), nothing changed since the last check (the default, incremental), one series changed, `--deep` —
and `report` for 500 symbols x 2400 days.

The check lake is written as a sync leaves it: monthly zstd partitions (`write_table_atomic`), their records
(`storage.inventory.record_partitions`) and every day's provenance with its rows (`storage.provenance.
record_days`); clean synthetic bars (OHLC consistent, a random walk), so the rules run in full and find
nothing. The anchor, run side by side on the same files: reading every partition whole with
`pyarrow.parquet.read_table` (the I/O and decode floor any check must pay). The report lake holds only what
the report reads: 500 symbols x 2400 days of day provenance and the partition records. Median of `--repeat`,
in wall seconds and in the process's CPU seconds (all threads; on a shared machine the steadier figure).

    .venv/bin/python bench/check.py [--symbols 300] [--fast 10] [--report-symbols 500] [--days 2400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.timerange import iter_days, iter_months, month_end, next_month
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.quality.report import build_report
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, record_partitions
from binance_lake.storage.parquet import write_table_atomic
from binance_lake.storage.provenance import DayRecord, record_days

YEAR = 2024
US = 1_000_000


def month_bars(month: dt.date, interval: Interval, rng: np.random.Generator, price: float) -> pa.Table:
    """A month of clean bars whose walk starts at `price` (the previous month's last close)."""
    start = int(dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC).timestamp()) * US
    nxt = next_month(month)
    end = int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC).timestamp()) * US
    step = interval.milliseconds * 1000
    open_us = np.arange(start, end, step, dtype=np.int64)
    n = len(open_us)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    volume = rng.uniform(1, 100, n)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "open_time": pa.array(open_us).cast(ts),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": volume,
            "close_time": pa.array(open_us + step - 1000).cast(ts),
            "quote_volume": volume * close,
            "count": rng.integers(1, 500, n),
            "taker_buy_volume": volume / 2,
            "taker_buy_quote_volume": volume * close / 2,
        },
        schema=get_dataset("klines").schema(Market.UM),
    )


def build_check_lake(root: Path, symbols: int, fast: int) -> list[Path]:
    """Write the partitions and their records; returns the partition files."""
    rng = np.random.default_rng(7)
    database = LakeDatabase(root)
    ensure_catalog(database)
    records: list[PartitionRecord] = []
    days: list[DayRecord] = []
    files: list[Path] = []
    series = [(f"S{i:03d}USDT", Interval.H1) for i in range(symbols)]
    series += [(f"S{i:03d}USDT", Interval.M1) for i in range(fast)]
    for symbol, interval in series:
        price = 100.0
        for month in iter_months(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)):
            partition = Partition("klines", Market.UM, interval, symbol, month)
            table = month_bars(month, interval, rng, price)
            price = float(table.column("close")[-1].as_py())
            path = root / partition.path
            write_table_atomic(path, table)
            stat = path.stat()
            records.append(PartitionRecord(partition, table.num_rows, stat.st_size, stat.st_mtime_ns))
            per_day = 86_400_000 // interval.milliseconds
            days += [
                DayRecord(partition, d, Provenance.ARCHIVE_MONTHLY, f"bench/{symbol}-{month}", None, per_day)
                for d in iter_days(month, month_end(month))
            ]
            files.append(path)
    with database.connect() as connection:
        record_partitions(connection, records)
        record_days(connection, days)
    return files


def build_report_lake(root: Path, symbols: int, days: int) -> None:
    """Day provenance and partition records of `symbols` x `days` daily klines (no Parquet: the report reads
    only the tables)."""
    database = LakeDatabase(root)
    ensure_catalog(database)
    first = dt.date(2020, 1, 1)
    sources = [Provenance.ARCHIVE_MONTHLY, Provenance.ARCHIVE_DAILY]
    records: list[PartitionRecord] = []
    day_records: list[DayRecord] = []
    for i in range(symbols):
        symbol = f"S{i:03d}USDT"
        start = first + dt.timedelta(days=(i * 7) % 400)  # listings spread over the first year
        for month in iter_months(start, first + dt.timedelta(days=days - 1)):
            partition = Partition("klines", Market.UM, Interval.D1, symbol, month)
            span = [d for d in iter_days(max(month, start), month_end(month)) if (d - first).days < days]
            records.append(PartitionRecord(partition, len(span), 4096, 0))
            source = sources[1] if month.year == 2025 else sources[0]
            day_records += [DayRecord(partition, d, source, "bench", None, 1) for d in span]
    with database.connect() as connection:
        record_partitions(connection, records)
        record_days(connection, day_records)


CPU: dict[str, float] = {}  # case: median CPU seconds of the process (all its threads: DuckDB's too)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median_s(fn: Callable[[], Any], repeat: int, case: str = "") -> tuple[float, Any]:
    """Median wall seconds of `repeat` calls, and the last result; the median CPU seconds go to CPU[case]
    (on a shared machine wall time moves with the load, CPU time much less)."""
    times, cpus, result = [], [], None
    for _ in range(repeat):
        began, cpu = time.perf_counter(), cpu_s()
        result = fn()
        times.append(time.perf_counter() - began)
        cpus.append(cpu_s() - cpu)
    CPU[case] = statistics.median(cpus)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--report-symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = dt.datetime(YEAR + 1, 1, 1, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as scratch:
        root = Path(scratch) / "check"
        root.mkdir()
        began = time.perf_counter()
        files = build_check_lake(root, args.symbols, args.fast)
        built = time.perf_counter() - began
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        lake = Lake(root)
        anchor, _ = median_s(lambda: sum(pq.read_table(f).num_rows for f in files), args.repeat, "anchor")
        check, report = median_s(
            lambda: lake.check(end=f"{YEAR}-12-31", now=now, full=True), args.repeat, "full"
        )
        again, carried = median_s(lambda: lake.check(end=f"{YEAR}-12-31", now=now), args.repeat, "again")
        deep, _ = median_s(lambda: lake.check(end=f"{YEAR}-12-31", now=now, deep=True), args.repeat, "deep")
        assert report.ok, report.summary()
        assert carried.counts["series_scanned"] == 0, carried.counts
        # One series changed since the last check (a month rewritten, as a daily update does): its series
        # alone is scanned again.
        changed = files[-1]
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1))
        began = time.perf_counter()
        one = lake.check(end=f"{YEAR}-12-31", now=now)
        one_changed = time.perf_counter() - began
        assert one.counts["series_scanned"] == 1, one.counts

        big = Path(scratch) / "report"
        big.mkdir()
        build_report_lake(big, args.report_symbols, args.days)
        reported, (page, summary) = median_s(lambda: build_report(LakeDatabase(big)), args.repeat)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; lake built in {built:.1f} s")  # fmt: skip
    print(
        f"check lake: {len(files):,} partitions, {rows:,} rows ({args.symbols} symbol-years 1h + {args.fast} 1m)"
    )
    print("| case | median | vs anchor | CPU | CPU vs anchor |")
    print("|---|---:|---:|---:|---:|")
    for label, wall, case in (
        ("anchor: read every partition whole (pyarrow)", anchor, "anchor"),
        ("`check --full` (every series scanned)", check, "full"),
        ("`check`, nothing changed since the last check", again, "again"),
        ("`check --deep`", deep, "deep"),
    ):
        cpu = CPU[case]
        print(f"| {label} | {wall:.2f} s | {wall / anchor:.2f}x | {cpu:.2f} s | {cpu / CPU['anchor']:.2f}x |")
    print(f"| `check`, one 1m series changed | {one_changed:.2f} s | {one_changed / anchor:.2f}x | - | - |")
    print(f"| `report`, {args.report_symbols} symbols x {args.days} days ({summary['cells']:,} cells, "
          f"{'monthly' if summary['monthly'] else 'daily'}) | {reported:.2f} s | - |")  # fmt: skip
    print(f"report HTML: {len(page.encode()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
