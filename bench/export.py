"""Benchmark: the Qlib export (`Lake.export_qlib`) against Qlib's own `scripts/dump_bin.py` over the same rows.

Cases (2024, synthetic bars written as sync leaves them: monthly zstd partitions, `file_state` and
`day_provenance` rows): a full dump of 300 symbol-years at 60min; 10 symbol-years at 1min; the incremental
export of one new day for the 300 symbols (a dump through 2024-12-30 copied into place, then the export
through 2024-12-31, appending in place). Median of `--repeat` runs, each into a fresh directory.

The anchor, run side by side when a pyqlib venv and Qlib's `scripts/dump_bin.py` are given: `dump_bin.py
dump_all` (`--max_workers 2`) from one CSV per symbol with seed 004's columns, as seed 004's collector feeds
it; writing those CSVs is not timed. dump_bin.py is not in the pyqlib wheel: take it from microsoft/qlib.

    .venv/bin/python bench/export.py [--repeat 3] [--symbols 300] [--minute-symbols 10]
        [--qlib-python .venv-qlib/bin/python --dump-bin PATH/TO/qlib/scripts/dump_bin.py]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from binance_lake.catalog.store import SCHEMA
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import iter_days, iter_months, month_end
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import STATE_SCHEMA, FileState, FileStatus, record
from binance_lake.lake import Lake
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.parquet import write_table_atomic
from binance_lake.storage.provenance import DayRecord, record_days
from binance_lake.storage.schema import ensure_schema

sys.path.insert(0, str(Path(__file__).parent))  # the sibling bench/load.py
from load import month_bars

YEAR = 2024
MONTHS = list(iter_months(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)))


def build(root: Path, symbols: list[str], interval: Interval, csv_dir: Path | None) -> None:
    """A year of bars per symbol, recorded as sync records them; optionally seed 004's per-symbol CSVs."""
    rng = np.random.default_rng(7)
    database = LakeDatabase(root)
    database.ensure_schema((*SCHEMA, *STATE_SCHEMA))
    ensure_schema(database)
    states: list[FileState] = []
    days: list[DayRecord] = []
    for symbol in symbols:
        tables = []
        for month in MONTHS:
            table = month_bars(month, interval, rng)
            partition = Partition("klines", Market.UM, interval, symbol, month)
            write_table_atomic(root / partition.path, table)
            file = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", symbol, interval, month)
            states.append(FileState(file.key, file, FileStatus.INGESTED))
            per_day = table.num_rows // month_end(month).day
            days.extend(
                DayRecord(partition, d, Provenance.ARCHIVE_MONTHLY, file.key, None, per_day)
                for d in iter_days(month, month_end(month))
            )
            tables.append(table)
        if csv_dir is not None:
            seed004_csv(pa.concat_tables(tables), csv_dir / f"binance_um.{symbol}.csv", symbol)
    with database.connect() as connection:
        record(connection, states)
        record_days(connection, days)


def seed004_csv(table: pa.Table, path: Path, symbol: str) -> None:
    """Seed 004's normalized CSV: date, OHLCV, amount, vwap, trades, taker columns, symbol."""
    path.parent.mkdir(parents=True, exist_ok=True)
    volume = table.column("volume").to_numpy()
    amount = table.column("quote_volume").to_numpy()
    dates = pa.compute.strftime(table.column("open_time"), format="%Y-%m-%d %H:%M:%S")
    out = pa.table(
        {
            "date": dates,
            **{c: table.column(c) for c in ("open", "high", "low", "close", "volume")},
            "amount": amount,
            "vwap": np.where(volume > 0, amount / np.where(volume > 0, volume, 1), np.nan),
            "trades": table.column("count"),
            "taker_buy_volume": table.column("taker_buy_volume"),
            "taker_buy_amount": table.column("taker_buy_quote_volume"),
            "factor": np.ones(table.num_rows),
            "symbol": [f"binance_um.{symbol}"] * table.num_rows,
        }
    )
    pacsv.write_csv(out, path)


def median_s(fn: Callable[[int], Any], repeat: int) -> float:
    runs = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def dump_bin_s(python: str, script: str, csv_dir: Path, out: Path, freq: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            python,
            script,
            "dump_all",
            f"--data_path={csv_dir}",
            f"--qlib_dir={out}",
            f"--freq={freq}",
            "--date_field_name=date",
            "--symbol_field_name=symbol",
            "--exclude_fields=date,symbol",
            "--max_workers=2",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--minute-symbols", type=int, default=10)
    parser.add_argument("--qlib-python", default=None)
    parser.add_argument("--dump-bin", default=None)
    args = parser.parse_args()
    anchor = bool(args.qlib_python and args.dump_bin)
    hourly = [f"S{i:03d}USDT" for i in range(args.symbols)]
    minute = [f"M{i:03d}USDT" for i in range(args.minute_symbols)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "lake"
        started = time.perf_counter()
        build(root, hourly, Interval.H1, work / "csv60" if anchor else None)
        build(root, minute, Interval.M1, work / "csv1" if anchor else None)
        print(f"built the lake in {time.perf_counter() - started:.1f} s")
        lake = Lake(settings=Settings(root=root))
        start, end = f"{YEAR}-01-01", f"{YEAR}-12-31"

        def full(freq: str, symbols: list[str]) -> Callable[[int], Any]:
            def run(i: int) -> Any:
                out = work / f"q-{freq}-{i}"
                report = lake.export_qlib(freq=freq, out=out, start=start, end=end, symbols=symbols)
                assert report.rows > 0
                return report

            return run

        rows: list[tuple[str, float, float | None]] = []
        ours = median_s(full("60min", hourly), args.repeat)
        theirs = (
            dump_bin_s(args.qlib_python, args.dump_bin, work / "csv60", work / "d60", "60min")
            if anchor
            else None
        )
        rows.append((f"{args.symbols} symbol-years at 60min", ours, theirs))
        ours = median_s(full("1min", minute), args.repeat)
        theirs = (
            dump_bin_s(args.qlib_python, args.dump_bin, work / "csv1", work / "d1", "1min")
            if anchor
            else None
        )
        rows.append((f"{args.minute_symbols} symbol-years at 1min", ours, theirs))

        base = work / "base"
        lake.export_qlib(freq="60min", out=base, start=start, end=f"{YEAR}-12-30", symbols=hourly)

        def incremental(i: int) -> Any:
            out = work / f"inc-{i}"
            shutil.copytree(base, out)
            started = time.perf_counter()
            report = lake.export_qlib(freq="60min", out=out, start=start, end=end, symbols=hourly)
            elapsed = time.perf_counter() - started
            assert report.summary()["appended"] and report.files_written == 0
            return elapsed

        times = [incremental(i) for i in range(args.repeat)]
        rows.append(
            (f"one new day for {args.symbols} symbols (60min, appended)", statistics.median(times), None)
        )
    print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print("| case | binance-lake | dump_bin.py dump_all | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in rows:
        anchor_text = f"{theirs:.2f} s" if theirs is not None else "—"
        ratio = f"{theirs / ours:.1f}x faster" if theirs is not None else "—"
        print(f"| {name} | {ours:.2f} s | {anchor_text} | {ratio} |")


if __name__ == "__main__":
    main()
