"""Benchmark: loading from the lake against `pandas.read_csv` over the same rows as monthly archive CSVs.

Cases (one year, 2024): 1h klines of one symbol; 1m klines of one symbol; 1h klines of a 300-symbol universe;
`load_aligned` for one symbol at 1h (klines, mark, index, premium, funding, metrics). The lake is written as
sync would leave it (monthly zstd partitions via `write_table_atomic`, `file_state` rows); the baseline reads
the same rows from one CSV per month with a header, as the archive ships them, and converts the times (for
the aligned case it also does the as-of joins with `pandas.merge_asof`). Median of `--repeat` runs.

A second table streams the 1m symbol-year and the universe with `Lake.iter_batches` (Arrow batches, consumed
and dropped, as an exporter would) against `Lake.load(as_="arrow")` of the same rows: time, and the most
memory Arrow held at once (each run in its own proxy memory pool). `--stream-only` prints just that table.

    .venv/bin/python bench/load.py [--repeat 7] [--symbols 300] [--stream-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from binance_lake.catalog.store import SCHEMA
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import iter_days, iter_months, month_end, next_month
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import STATE_SCHEMA, FileState, FileStatus, record
from binance_lake.lake import Lake
from binance_lake.load import connection
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.parquet import write_table_atomic

YEAR = 2024
MONTHS = list(iter_months(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)))
US = 1_000_000


def month_bars(month: dt.date, interval: Interval, rng: np.random.Generator) -> pa.Table:
    start = int(dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC).timestamp()) * US
    nxt = next_month(month)
    end = int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC).timestamp()) * US
    step = interval.milliseconds * 1000
    open_us = np.arange(start, end, step, dtype=np.int64)
    n = len(open_us)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    volume = rng.uniform(1, 100, n)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "open_time": pa.array(open_us).cast(ts),
            "open": close * (1 + rng.normal(0, 0.0005, n)),
            "high": close * 1.001,
            "low": close * 0.999,
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


def month_rows(dataset: str, month: dt.date, rng: np.random.Generator) -> pa.Table:
    spec = get_dataset(dataset)
    schema = spec.schema(Market.UM)
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    nxt = next_month(month)
    end = dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=8) if dataset == "fundingRate" else dt.timedelta(minutes=5)
    n = int((end - start) / step)
    times = pa.array([start + i * step for i in range(n)], pa.timestamp("us", tz="UTC"))
    columns: dict[str, Any] = {schema.names[0]: times}
    for field in list(schema)[1:]:
        columns[field.name] = np.full(n, 8) if pa.types.is_integer(field.type) else rng.uniform(0.5, 2, n)
    return pa.table(columns, schema=schema)


def csv_of(table: pa.Table, path: Path) -> None:
    """The archive's shape: epoch-ms integers (text times for metrics), a header line."""
    out = {}
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            if field.name == "create_time":
                column = pa.array([t.strftime("%Y-%m-%d %H:%M:%S") for t in column.to_pylist()])
            else:
                column = pa.compute.divide(column.cast(pa.int64()), 1000)
        out[field.name] = column
    pacsv.write_csv(pa.table(out), path)


class Builder:
    def __init__(self, root: Path, csv_root: Path) -> None:
        self.root, self.csv_root = root, csv_root
        self.states: list[FileState] = []

    def put(
        self, dataset: str, symbol: str, interval: Interval | None, month: dt.date, table: pa.Table
    ) -> None:
        write_table_atomic(self.root / Partition(dataset, Market.UM, interval, symbol, month).path, table)
        directory = self.csv_root / dataset / symbol / (interval.value if interval else "-")
        directory.mkdir(parents=True, exist_ok=True)
        csv_of(table, directory / f"{month:%Y-%m}.csv")
        if Cadence.MONTHLY in get_dataset(dataset).cadences:
            periods, cadence = [month], Cadence.MONTHLY
        else:
            periods, cadence = list(iter_days(month, month_end(month))), Cadence.DAILY
        self.states.extend(
            FileState("", ArchiveFile(Market.UM, cadence, dataset, symbol, interval, p), FileStatus.INGESTED)
            for p in periods
        )

    def commit(self) -> None:
        database = LakeDatabase(self.root)
        database.ensure_schema((*SCHEMA, *STATE_SCHEMA))
        states = [FileState(s.file.key, s.file, s.status) for s in self.states]
        with database.connect() as connection:
            record(connection, states)


def read_csvs(directory: Path, time_columns: tuple[str, ...] = ("open_time", "close_time")) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in sorted(directory.glob("*.csv"))]
    frame = pd.concat(frames, ignore_index=True)
    for column in time_columns:
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: imports, page cache
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--stream-only", action="store_true", help="only the iter_batches table")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        root, csv_root = Path(tmp) / "lake", Path(tmp) / "csv"
        b = Builder(root, csv_root)
        universe = [f"S{i:03d}USDT" for i in range(args.symbols - 1)] + ["BTCUSDT"]
        for month in MONTHS:
            b.put("klines", "BTCUSDT", Interval.M1, month, month_bars(month, Interval.M1, rng))
            for symbol in universe:
                b.put("klines", symbol, Interval.H1, month, month_bars(month, Interval.H1, rng))
            for dataset in ("markPriceKlines", "indexPriceKlines", "premiumIndexKlines"):
                b.put(dataset, "BTCUSDT", Interval.H1, month, month_bars(month, Interval.H1, rng))
            for dataset in ("fundingRate", "metrics"):
                b.put(dataset, "BTCUSDT", None, month, month_rows(dataset, month, rng))
        b.commit()
        # A user loads a lake synced earlier: let lake.duckdb settle so the coverage answers may be cached
        # (binance_lake.load.connection); the "no cache" row measures the first load after a write.
        time.sleep(connection.SETTLED_SECONDS)
        lake = Lake(settings=Settings(root=root))

        def uncached() -> Any:
            connection.clear_cache()
            return lake.load("klines", "BTCUSDT", start, end, interval="1h")

        start, end = f"{YEAR}-01-01", f"{YEAR}-12-31"

        def universe_csv() -> pd.DataFrame:
            frames = []
            for symbol in universe:
                frame = read_csvs(csv_root / "klines" / symbol / "1h")
                frame["symbol"] = symbol
                frames.append(frame)
            return pd.concat(frames, ignore_index=True)

        def aligned_csv() -> pd.DataFrame:
            k = read_csvs(csv_root / "klines" / "BTCUSDT" / "1h")
            for dataset, name in (
                ("markPriceKlines", "mark_close"),
                ("indexPriceKlines", "index_close"),
                ("premiumIndexKlines", "premium_close"),
            ):
                other = read_csvs(csv_root / dataset / "BTCUSDT" / "1h")[["open_time", "close"]]
                k = k.merge(other.rename(columns={"close": name}), on="open_time", how="left")
            funding = read_csvs(csv_root / "fundingRate" / "BTCUSDT" / "-", ("calc_time",))
            k = pd.merge_asof(
                k.sort_values("close_time"), funding, left_on="close_time", right_on="calc_time"
            )
            metrics = pd.concat(
                [pd.read_csv(p) for p in sorted((csv_root / "metrics" / "BTCUSDT" / "-").glob("*.csv"))]
            )
            metrics["known_at"] = pd.to_datetime(metrics["create_time"], utc=True) + pd.Timedelta(minutes=5)
            return pd.merge_asof(
                k, metrics.sort_values("known_at"), left_on="close_time", right_on="known_at"
            )

        cases: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
            (
                "1 symbol-year, 1h klines",
                lambda: lake.load("klines", "BTCUSDT", start, end, interval="1h"),
                lambda: read_csvs(csv_root / "klines" / "BTCUSDT" / "1h"),
                8784,
            ),
            (
                "1 symbol-year, 1h klines, first load after a write (no cache)",
                uncached,
                lambda: read_csvs(csv_root / "klines" / "BTCUSDT" / "1h"),
                8784,
            ),
            (
                "1 symbol-year, 1m klines",
                lambda: lake.load("klines", "BTCUSDT", start, end, interval="1m"),
                lambda: read_csvs(csv_root / "klines" / "BTCUSDT" / "1m"),
                527040,
            ),
            (
                f"{len(universe)}-symbol universe-year, 1h klines",
                lambda: lake.load_universe(start, end, interval="1h"),
                universe_csv,
                8784 * len(universe),
            ),
            (
                "load_aligned, 1 symbol-year, 1h",
                lambda: lake.load_aligned("BTCUSDT", start, end, interval="1h"),
                aligned_csv,
                8784,
            ),
        ]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"pandas {pd.__version__}, pyarrow {pa.__version__}; median of {args.repeat} runs; pandas frames out"
        )
        print("| case | rows | lake (ms) | read_csv (ms) | read_csv / lake |")
        print("|---|---:|---:|---:|---:|")
        for name, ours, baseline, rows in [] if args.stream_only else cases:
            got = ours()
            assert len(got) == rows, (name, len(got))
            lake_ms, csv_ms = median_ms(ours, args.repeat), median_ms(baseline, max(3, args.repeat // 2))
            print(
                f"| {name} | {rows:,} | {lake_ms:.1f} | {csv_ms:.1f} | {csv_ms / lake_ms:.1f}× |", flush=True
            )
        stream_table(lake, universe, start, end, args.repeat)


_POOLS: list[pa.MemoryPool] = []  # buffers may free into a pool after its run: keep the pools alive


def peak_mb(fn: Callable[[], Any]) -> float:
    """The most memory (MB) Arrow held at once while `fn` ran, in a pool of its own."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    _POOLS.append(pool)
    pa.set_memory_pool(pool)
    try:
        fn()
    finally:
        pa.set_memory_pool(previous)
    return (pool.max_memory() or 0) / 1e6


def stream_table(lake: Lake, universe: list[str], start: str, end: str, repeat: int) -> None:
    def drain(**request: Any) -> Callable[[], int]:
        def go() -> int:
            return sum(b.num_rows for b in lake.iter_batches("klines", start=start, end=end, **request))

        return go

    def whole(**request: Any) -> Callable[[], int]:
        return lambda: lake.load("klines", start=start, end=end, as_="arrow", **request).num_rows

    cases = [
        ("1 symbol-year, 1m klines", {"symbols": "BTCUSDT", "interval": "1m"}, 527040),
        (f"{len(universe)} symbols, a year of 1h klines", {"symbols": universe, "interval": "1h"}, 0),
    ]
    print()
    print("| case | rows | load arrow (ms) | iter_batches (ms) | load peak (MB) | iter_batches peak (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, request, rows in cases:
        streamed, loaded = drain(**request), whole(**request)
        got = streamed()
        assert got == loaded() and (rows == 0 or got == rows), (name, got)
        load_ms, stream_ms = median_ms(loaded, repeat), median_ms(streamed, repeat)
        load_mb, stream_mb = peak_mb(loaded), peak_mb(streamed)
        print(
            f"| {name} | {got:,} | {load_ms:.1f} | {stream_ms:.1f} | {load_mb:.1f} | {stream_mb:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
