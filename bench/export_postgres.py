"""Benchmark: the PostgreSQL export (`Lake.export_postgres`) into a throw-away PostgreSQL 15 cluster.

Lake: `--symbols` symbols × one year (2024) of 1h klines, plus `--minute-symbols` symbols of 1m klines,
written as sync leaves them (bench/load.py's builder: monthly zstd partitions and their state rows).
Cases, each on a fresh database unless said otherwise:

- first export of `ohlcv`: wall time and rows/s end to end (read the lake, binary COPY into staging, the
  per-batch merge, data_versions), and the part spent in COPY alone (rows/s of COPY);
- the anchor, side by side: the same rows COPY'd with psycopg's own row writer (`Copy.write_row`, Python
  values) into the same staging table, the usual way to COPY from Python;
- re-export with nothing new (data_versions says every partition is already there: no row read);
- incremental: the last month of every series rewritten (a day appended), re-exported.

    .venv/bin/python bench/export_postgres.py [--symbols 100] [--minute-symbols 2] [--dsn DSN]

Without `--dsn` it starts its own cluster as tests/pg_server.py does (initdb --no-sync, fsync off: what is
measured is the export, not the disk). Runs as root need the `postgres` user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

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


class CopyTimer:
    """Time spent in `PostgresSink._stage` (the COPY into the staging table), optionally with psycopg's
    row writer instead of our binary encoder (the anchor)."""

    def __init__(self, *, anchor: bool) -> None:
        self.seconds = 0.0
        self.rows = 0
        self.anchor = anchor
        self.real = sink_mod.PostgresSink._stage

    def __enter__(self) -> CopyTimer:
        timer, real = self, self.real

        def timed(sink: Any, table: Any, times: Any, rows: Any, *codes: Any) -> None:
            began = time.perf_counter()
            real(sink, table, times, rows, *codes)
            timer.seconds += time.perf_counter() - began
            timer.rows += rows.num_rows

        sink_mod.PostgresSink._stage = timed  # type: ignore[method-assign]
        if self.anchor:
            self.encode = sink_mod.encode
            sink_mod.encode = lambda *args: None  # type: ignore[assignment]  # always the row writer
        return self

    def __exit__(self, *exc: object) -> None:
        sink_mod.PostgresSink._stage = self.real  # type: ignore[method-assign]
        if self.anchor:
            sink_mod.encode = self.encode


def export(lake: Lake, dsn: str) -> tuple[float, int]:
    began = time.perf_counter()
    report = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
    return time.perf_counter() - began, report.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--minute-symbols", type=int, default=2)
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
        with CopyTimer(anchor=False) as ours:
            seconds, written = export(lake, dsn)
        assert written == rows, (written, rows)
        print(f"first export: {seconds:.2f} s, {rows / seconds:,.0f} rows/s end to end")
        print(f"  COPY (binary, numpy): {ours.seconds:.2f} s, {ours.rows / ours.seconds:,.0f} rows/s")
        began = time.perf_counter()
        again = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
        print(f"re-export, nothing new: {time.perf_counter() - began:.3f} s ({again.rows} rows)")
        # A day appended to December of every series: its partition changes, only it is copied again.
        for interval, count in ((Interval.H1, args.symbols), (Interval.M1, args.minute_symbols)):
            for n in range(count):
                partition = Partition("klines", Market.UM, interval, f"S{n:03d}USDT", dt.date(2024, 12, 1))
                path = lake.root / partition.path
                table = month_bars(dt.date(2024, 12, 1), interval, np.random.default_rng(n))
                write_table_atomic(path, table)
        began = time.perf_counter()
        changed = lake.export_postgres(dsn, datasets="klines", start="2024-01-01", end="2024-12-31")
        print(f"re-export, December rewritten: {time.perf_counter() - began:.2f} s ({changed.rows:,} rows)")
    with database(server) as dsn, CopyTimer(anchor=True) as anchor:
        seconds, _ = export(lake, dsn)
        print(
            f"anchor, psycopg write_row: {seconds:.2f} s end to end; COPY {anchor.seconds:.2f} s, "
            f"{anchor.rows / anchor.seconds:,.0f} rows/s (ours {anchor.seconds / max(ours.seconds, 1e-9):.1f}x faster)"
        )


if __name__ == "__main__":
    main()
