"""Benchmark: archive CSV parsing and streaming partition writes.

Measures `parse_file` on synthetic kline zips (one month of 1m bars, and a month of spot 1s bars), and the
peak RSS of `iter_batches` -> `write_partition_stream` for a 5 M-row trades day, sorted and unsorted.
Each streaming run happens in a fresh child process so its peak RSS is its own. `--small N` measures instead
the fixed costs of N small files (monthly 1h klines, 744 rows each), CPU per file, best of `--repeat`: the
inflate, `parse_file` one file per call against `parse_files` (the batched parse the sync uses), and the
Parquet write of one month per codec (into memory, so the disk is left out).

    .venv/bin/python bench/parse.py [--trades-rows 5000000] [--repeat 5]
    .venv/bin/python bench/parse.py --small 300 [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing
import os
import platform
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from binance_lake.binance.csv_parse import iter_batches, member_name, parse_file, parse_files
from binance_lake.binance.zip_member import ZipSource, read_member
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.storage.parquet import (
    ROW_GROUP_ROWS,
    read_partition,
    write_partition_stream,
    writer_options,
)

MIB = 1024 * 1024


def _klines_csv(rows: int, step_ms: int, start_ms: int, *, micro: bool, header: bool) -> bytes:
    rng = np.random.default_rng(7)
    scale = 1000 if micro else 1
    open_time = (start_ms + np.arange(rows, dtype=np.int64) * step_ms) * scale
    price = np.round(30000 + np.cumsum(rng.normal(0, 5, rows)), 1)
    table = pa.table(
        {
            "open_time": open_time,
            "open": price,
            "high": price + 3.5,
            "low": price - 2.5,
            "close": price + 0.5,
            "volume": np.round(rng.random(rows) * 100, 3),
            "close_time": open_time + step_ms * scale - 1,
            "quote_volume": np.round(rng.random(rows) * 3e6, 5),
            "count": rng.integers(0, 5000, rows),
            "taker_buy_volume": np.round(rng.random(rows) * 50, 3),
            "taker_buy_quote_volume": np.round(rng.random(rows) * 1e6, 5),
            "ignore": np.zeros(rows, dtype=np.int64),
        }
    )
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=header, quoting_style="none"))
    return out.getvalue()


def _zip(member: str, data: bytes, path: Path | None = None) -> bytes | Path:
    target: io.BytesIO | Path = io.BytesIO() if path is None else path
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(member, data)
    return target.getvalue() if isinstance(target, io.BytesIO) else target


def bench_parse(label: str, file: ArchiveFile, csv_bytes: bytes, rows: int, repeat: int) -> None:
    source = _zip(member_name(file), csv_bytes)
    best_threads = best_single = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        table = parse_file(source, file)
        best_threads = min(best_threads, time.perf_counter() - started)
        assert table.num_rows == rows
    cpus = pa.cpu_count()
    pa.set_cpu_count(1)
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            parse_file(source, file)
            best_single = min(best_single, time.perf_counter() - started)
    finally:
        pa.set_cpu_count(cpus)
    print(
        f"{label}: {rows} rows, {len(csv_bytes) / MIB:.1f} MiB CSV; parse_file best of {repeat}: "
        f"{best_threads * 1000:.1f} ms = {rows / best_threads / 1e6:.2f} M rows/s ({cpus} threads), "
        f"{best_single * 1000:.1f} ms = {rows / best_single / 1e6:.2f} M rows/s (1 thread)"
    )


def _trades_zip(path: Path, rows: int, *, shuffled: bool) -> ArchiveFile:
    day = dt.date(2024, 3, 1)
    file = ArchiveFile(Market.UM, Cadence.DAILY, "trades", "BTCUSDT", None, day)
    rng = np.random.default_rng(11)
    start_ms = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)
    times = start_ms + np.sort(rng.integers(0, 86_400_000, rows))
    ids = 4_000_000_000 + np.arange(rows, dtype=np.int64)
    if shuffled:
        # Interleaved ids, as in the UM aggTrades files of issue #339: forces the out-of-core sort.
        order = rng.permutation(rows)
        times, ids = times[order], ids[order]
    price = np.round(60000 + rng.normal(0, 50, rows), 1)
    qty = np.round(rng.random(rows) * 2, 3)
    table = pa.table(
        {
            "id": ids,
            "price": price,
            "qty": qty,
            "quote_qty": np.round(price * qty, 4),
            "time": times,
            "is_buyer_maker": rng.random(rows) < 0.5,
        }
    )
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=True, quoting_style="none"))
    csv_bytes = out.getvalue()
    print(f"  trades CSV: {rows} rows, {len(csv_bytes) / MIB:.0f} MiB (shuffled={shuffled})")
    _zip(member_name(file), csv_bytes, path)
    return file


class _PeakRss:
    """Samples this process's RSS with psutil every few milliseconds and keeps the peak."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.baseline = self.peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def _stream_child(zip_path: str, root: str, file: ArchiveFile, queue: multiprocessing.Queue[object]) -> None:
    spec = get_dataset("trades")
    partition = Partition("trades", file.market, None, file.symbol, file.period)
    with _PeakRss() as rss:
        started = time.perf_counter()
        result = write_partition_stream(Path(root), partition, iter_batches(Path(zip_path), file), spec)
        elapsed = time.perf_counter() - started
    queue.put((result.rows_after, elapsed, rss.peak, rss.baseline, result.path.stat().st_size))


def bench_stream(rows: int, *, shuffled: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        zip_path = Path(scratch) / "trades.zip"
        file = _trades_zip(zip_path, rows, shuffled=shuffled)
        context = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue[object] = context.Queue()
        child = context.Process(target=_stream_child, args=(str(zip_path), scratch, file, queue))
        child.start()
        written, elapsed, peak, baseline, size = queue.get()  # type: ignore[misc]
        child.join()
        assert written == rows
        check = read_partition(
            Path(scratch) / Partition("trades", file.market, None, file.symbol, file.period).path
        )
        assert check is not None and check.num_rows == rows
        arrow_mib = check.nbytes / MIB
        print(
            f"stream trades day ({'unsorted -> DuckDB sort' if shuffled else 'sorted'}): {rows} rows in "
            f"{elapsed:.2f} s = {rows / elapsed / 1e6:.2f} M rows/s; peak RSS {peak / MIB:.0f} MiB "
            f"({baseline / MIB:.0f} MiB after imports) "
            f"(data in Arrow: {arrow_mib:.0f} MiB; Parquet file {size / MIB:.0f} MiB)"
        )


def _cpu_per_item(work: Callable[[], object], items: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / items * 1000


def bench_small(files: int, repeat: int) -> None:
    """CPU per small file of each fixed cost of the ingest (see the module docstring)."""
    sources: list[tuple[ZipSource, ArchiveFile]] = []
    for index in range(files):
        month = dt.date(2020 + index // 12 % 6, index % 12 + 1, 1)
        symbol = f"S{index // 72}USDT"
        file = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", symbol, Interval.H1, month)
        start = int(dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC).timestamp() * 1000)
        data = _klines_csv(744, 3_600_000, start, micro=False, header=True)
        sources.append((_zip(member_name(file), data), file))
    tables = [parse_file(source, file) for source, file in sources]
    assert all(a.equals(b) for a, b in zip(tables, parse_files(sources), strict=True))
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "inflate (read_member)",
            lambda: [read_member(s, member_name(f), limit=1 << 26) for s, f in sources],
        ),
        ("parse_file, one file per call", lambda: [parse_file(s, f) for s, f in sources]),
        ("parse_files, all at once", lambda: parse_files(sources)),
    ]
    options = writer_options(tables[0].schema)
    for codec in ("zstd", "lz4", "snappy", "none"):
        chosen = {**options, "compression": codec}
        if codec != "zstd":
            chosen.pop("compression_level")
        cases.append(
            (f"Parquet write, {codec}", lambda chosen=chosen: [_to_memory(t, chosen) for t in tables])
        )
    cases.append(
        ("Parquet write, zstd, all as one table", lambda: _to_memory(pa.concat_tables(tables), options))
    )
    print(f"{files} monthly 1h files of 744 rows; CPU ms per file, best of {repeat}:")
    for label, work in cases:
        print(f"  {label:40s} {_cpu_per_item(work, files, repeat):6.3f}")


def _to_memory(table: pa.Table, options: dict[str, Any]) -> int:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **options)
    return int(sink.getvalue().size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades-rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--small", type=int, metavar="N", help="measure the fixed costs of N small files only"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pyarrow {pa.__version__}, load {os.getloadavg()[0]:.1f}"
    )
    if args.small:
        bench_small(args.small, args.repeat)
        return
    start = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    month_1m = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", "BTCUSDT", Interval.M1, dt.date(2024, 1, 1))
    bench_parse(
        "UM 1m klines, 1 month",
        month_1m,
        _klines_csv(44_640, 60_000, start, micro=False, header=True),
        44_640,
        args.repeat,
    )
    spot_start = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    month_1s = ArchiveFile(
        Market.SPOT, Cadence.MONTHLY, "klines", "BTCUSDT", Interval.S1, dt.date(2025, 1, 1)
    )
    rows_1s = 31 * 86_400
    bench_parse(
        "spot 1s klines (µs), 1 month",
        month_1s,
        _klines_csv(rows_1s, 1000, spot_start, micro=True, header=False),
        rows_1s,
        max(1, args.repeat // 2),
    )
    bench_stream(args.trades_rows, shuffled=False)
    bench_stream(args.trades_rows, shuffled=True)


if __name__ == "__main__":
    main()
