"""Benchmark: the PostgreSQL export (`Lake.export_postgres`) into a throw-away PostgreSQL 15 cluster.

Lake: `--symbols` symbols × one year (2024) of 1h klines, plus `--minute-symbols` symbols of 1m klines,
written as sync leaves them (bench/load.py's builder: monthly zstd partitions and their state rows).
Cases, each on a fresh database unless said otherwise:

- COPY rate: the same in-memory batches (`--copy-rows` of the lake's 1h bars) COPY'd into the `ohlcv`
  staging table by our numpy binary encoder and, alternating with it (`--repeat` rounds, medians), by the
  anchor: psycopg's own row writer (`Copy.write_row` of Python values), the usual way to COPY from Python;
- first export of `ohlcv`: wall time and rows/s end to end (read the lake, binary COPY into staging, the
  per-batch merge into the keyed, partitioned table, data_versions);
- re-export with nothing new (data_versions says every partition is already there: no row read);
- incremental: the last month of every series rewritten (a day appended), re-exported.

    .venv/bin/python bench/export_postgres.py [--symbols 100] [--minute-symbols 2] [--copy-rows 500000]
        [--repeat 5] [--dsn DSN]

Without `--dsn` it starts its own cluster as tests/pg_server.py does (initdb --no-sync, fsync off: what is
measured is the export, not the disk). Runs as root need the `postgres` user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from binance_lake.catalog.store import SCHEMA  # noqa: E402
from binance_lake.core.archive import ArchiveFile  # noqa: E402
from binance_lake.core.partitions import Partition  # noqa: E402
from binance_lake.core.vocabulary import (  # noqa: E402
    Cadence,
    Interval,
    Market,
)
from binance_lake.engine.state import STATE_SCHEMA, FileState, FileStatus, record  # noqa: E402
from binance_lake.export.postgres import sink as sink_mod  # noqa: E402
from binance_lake.export.postgres.tables import BY_NAME  # noqa: E402
from binance_lake.lake import Lake  # noqa: E402
from binance_lake.storage.database import LakeDatabase  # noqa: E402
from binance_lake.storage.parquet import write_table_atomic  # noqa: E402
from load import MONTHS, month_bars  # noqa: E402  (bench/load.py)


def build(root: Path, symbols: int, minute_symbols: int) -> int:
    """Monthly partitions and the `file_state` rows a sync would have left (as bench/load.py does)."""
    rng = np.random.default_rng(7)
    states, rows = [], 0
    for interval, count in ((Interval.H1, symbols), (Interval.M1, minute_symbols)):
        for n in range(count):
            for month in MONTHS:
                table = month_bars(month, interval, rng)
                write_table_atomic(
                    root / Partition("klines", Market.UM, interval, f"S{n:03d}USDT", month).path, table
                )
                file = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", f"S{n:03d}USDT", interval, month)
                states.append(FileState(file.key, file, FileStatus.INGESTED))
                rows += table.num_rows
    database = LakeDatabase(root)
    database.ensure_schema((*SCHEMA, *STATE_SCHEMA))
    with database.connect() as connection:
        record(connection, states)
    return rows


@contextmanager
def database(server: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def copy_rates(lake: Lake, dsn: str, rows: int, repeat: int, count: int) -> tuple[float, float, int]:
    """Median rows/s of COPY into the `ohlcv` staging table of the same in-memory batches (the first `rows`
    rows of the lake's 1h bars): ours (numpy binary) and the anchor (psycopg `write_row`), alternating,
    each round committed (the staging table empties itself)."""
    batches, held = [], 0
    symbols = [f"S{n:03d}USDT" for n in range(count)]
    stream = lake.iter_batches(
        "klines", symbols, "2024-01-01", "2024-12-31", interval="1h", columns=BY_NAME["ohlcv"].lake_columns
    )
    names = list(BY_NAME["ohlcv"].lake_columns)
    for batch in stream:
        batches.append(batch.select(names))
        held += batch.num_rows
        if held >= rows:
            break
    table = BY_NAME["ohlcv"]
    ours, anchor = [], []
    with sink_mod.PostgresSink.open(dsn) as sink:
        for _ in range(repeat):
            for times, use_numpy in ((ours, True), (anchor, False)):
                real = sink_mod.encode
                if not use_numpy:
                    sink_mod.encode = lambda *args: None  # type: ignore[assignment]  # the row writer
                began = time.perf_counter()
                try:
                    for batch in batches:
                        n = batch.num_rows
                        stamps = batch.column(0).cast(pa.int64()).to_numpy()
                        sink._stage(table, stamps, batch, np.ones(n, np.int32), np.ones(n, np.int16))
                    sink.connection.commit()
                finally:
                    sink_mod.encode = real
                times.append(held / (time.perf_counter() - began))
    return statistics.median(ours), statistics.median(anchor), held


def export(lake: Lake, dsn: str) -> tuple[float, int]:
    began = time.perf_counter()
    report = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
    return time.perf_counter() - began, report.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--minute-symbols", type=int, default=2)
    parser.add_argument("--copy-rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dsn", help="a server's maintenance database (default: start a throw-away one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bl-bench-pg-") as tmp:
        root = Path(tmp) / "lake"
        rows = build(root, args.symbols, args.minute_symbols)
        lake = Lake(root)
        if args.dsn:
            run(lake, args.dsn, rows, args)
        else:
            from tests.pg_server import running_postgres

            with running_postgres() as server:
                run(lake, server, rows, args)


def run(lake: Lake, server: str, rows: int, args: argparse.Namespace) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared; load average "
        f"{os.getloadavg()[0]:.1f}), Python {platform.python_version()}, psycopg {psycopg.__version__}"
    )
    print(f"lake: {args.symbols} symbols x 2024 of 1h klines + {args.minute_symbols} of 1m = {rows:,} rows")
    with database(server) as dsn:
        ours, anchor, copied = copy_rates(lake, dsn, args.copy_rows, args.repeat, args.symbols)
        print(
            f"COPY into staging, {copied:,} rows, median of {args.repeat} alternating rounds: ours "
            f"{ours:,.0f} rows/s, psycopg write_row {anchor:,.0f} rows/s (ours {ours / anchor:.1f}x)"
        )
    with database(server) as dsn:
        seconds, written = export(lake, dsn)
        assert written == rows, (written, rows)
        print(f"first export: {seconds:.2f} s, {rows / seconds:,.0f} rows/s end to end")
        began = time.perf_counter()
        again = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
        print(f"re-export, nothing new: {time.perf_counter() - began:.3f} s ({again.rows} rows)")
        # December of every series rewritten, as a day's sync rewrites its month's partition: only that
        # month of each series is copied again.
        for interval, count in ((Interval.H1, args.symbols), (Interval.M1, args.minute_symbols)):
            for n in range(count):
                partition = Partition("klines", Market.UM, interval, f"S{n:03d}USDT", dt.date(2024, 12, 1))
                path = lake.root / partition.path
                table = month_bars(dt.date(2024, 12, 1), interval, np.random.default_rng(n))
                write_table_atomic(path, table)
        began = time.perf_counter()
        changed = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
        print(f"re-export, December rewritten: {time.perf_counter() - began:.2f} s ({changed.rows:,} rows)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
