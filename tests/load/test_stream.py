"""The streaming read: `iter_batches` yields what `load_table` returns for the same request (rows, columns,
types, order, missing days), in batches of `batch_rows`, reading one partition at a time."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load import missing_of
from binance_lake.load.reader import load_table
from binance_lake.load.request import LoadRequest, build_request
from binance_lake.load.stream import DEFAULT_BATCH_ROWS, Batches, iter_batches, rebatch
from binance_lake.sim.server import SimServer
from binance_lake.storage.parquet import write_table_atomic
from tests.engine.test_sync_sim import lake_on
from tests.load.lakes import LakeBuilder

T = TypeVar("T")
D = dt.date
UTC = dt.UTC
SYNCED = ("BTCUSDT", "ETHUSDT", "XEMUSDT")  # XEMUSDT is delisted in October 2023
LOST = "tables/klines/market=um/interval=1h/symbol=ETHUSDT/2023-10.parquet"
DATASETS = {"klines": "1h", "aggTrades": None}


@pytest.fixture(scope="module")
def lake_root(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three months of hourly bars of three symbols (one delisted, one with a lost partition), and October's
    aggTrades of one symbol: bar-like monthly and tick-like daily partitions."""
    root = tmp_path_factory.mktemp("stream")
    lake = lake_on(sim_server, root)
    symbols = ",".join(SYNCED)
    assert lake.sync(
        datasets="klines", intervals="1h", symbols=symbols, start="2023-09-01", end="2023-11-30"
    ).ok
    assert lake.sync(datasets="aggTrades", symbols="BTCUSDT", start="2023-10-01", end="2023-10-03").ok
    (root / LOST).unlink()  # held but gone: missing for load, so for the stream too
    return root


def collect(batches: Batches) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema=batches.schema)


def check_same_as_load(root: Path, request: LoadRequest, batch_rows: int) -> list[pa.RecordBatch]:
    loaded = load_table(root, request, require=False)
    stream = iter_batches(root, request, batch_rows=batch_rows, require=False)
    got = list(stream)
    assert stream.schema == loaded.table.schema
    assert all(b.schema == stream.schema for b in got)
    table = pa.Table.from_batches(got, schema=stream.schema)
    assert table.equals(loaded.table)
    assert (stream.missing, stream.absent, stream.unlisted) == (
        loaded.missing,
        loaded.absent,
        loaded.unlisted,
    )
    # Every batch is full but the last; none is empty.
    assert all(b.num_rows == batch_rows for b in got[:-1])
    assert all(0 < b.num_rows <= batch_rows for b in got)
    return got


def sorted_by_symbol_then_time(batches: list[pa.RecordBatch], time_column: str) -> bool:
    keys = [
        (s, t)
        for b in batches
        for s, t in zip(b.column("symbol").to_pylist(), b.column(time_column).to_pylist(), strict=True)
    ]
    return keys == sorted(keys)


def moments() -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(dt.datetime(2023, 8, 25), dt.datetime(2023, 12, 5)).map(
        lambda t: t.replace(second=0, microsecond=0)
    )


@st.composite
def requests(draw: st.DrawFn) -> LoadRequest:
    dataset = draw(st.sampled_from(sorted(DATASETS)))
    symbols = draw(st.lists(st.sampled_from([*SYNCED, "NOPEUSDT"]), min_size=1, max_size=4, unique=True))
    start = draw(moments())
    end = start + draw(st.timedeltas(dt.timedelta(minutes=1), dt.timedelta(days=45)))
    by_day = draw(st.booleans())  # whole days inclusive, or half-open timestamps
    first, last = (
        (start.date().isoformat(), end.date().isoformat())
        if by_day
        else (
            start.isoformat(timespec="minutes"),
            end.isoformat(timespec="minutes"),
        )
    )
    names = get_dataset(dataset).schema(Market.UM).names
    columns = draw(st.none() | st.lists(st.sampled_from([*names, "symbol"]), max_size=4))
    return build_request(dataset, symbols, first, last, interval=DATASETS[dataset], columns=columns)


@settings(max_examples=60, deadline=None)
@given(request=requests(), batch_rows=st.integers(16, 5000) | st.just(DEFAULT_BATCH_ROWS))
def test_the_batches_are_the_loaded_table_in_symbol_time_order(
    lake_root: Path, request: LoadRequest, batch_rows: int
) -> None:
    got = check_same_as_load(lake_root, request, batch_rows)
    assert sorted_by_symbol_then_time(got, request.time_column)


def test_a_whole_window_streams_every_symbol_and_reports_the_lost_partition(lake_root: Path) -> None:
    request = build_request("klines", list(SYNCED), "2023-09-01", "2023-11-30", interval="1h")
    got = check_same_as_load(lake_root, request, 1000)
    symbols = {s for b in got for s in b.column("symbol").to_pylist()}
    assert symbols == set(SYNCED) and sorted_by_symbol_then_time(got, "open_time")
    stream = iter_batches(lake_root, request)
    assert [(g.symbol, g.first_day, g.last_day) for g in stream.missing.gaps] == [
        ("ETHUSDT", D(2023, 10, 1), D(2023, 10, 31))
    ]
    assert stream.files == 3 + 2 + 2  # BTC three months, ETH two (October is lost), XEM until its delisting


def test_a_symbol_never_held_is_the_usage_error_load_raises(lake_root: Path) -> None:
    request = build_request("klines", "BTCUSDT,NOPEUSDT", "2023-10-01", "2023-10-02", interval="1h")
    with pytest.raises(UsageError) as by_load:
        load_table(lake_root, request)
    with pytest.raises(UsageError) as by_stream:
        iter_batches(lake_root, request)  # at the call, before any batch is asked for
    assert str(by_stream.value) == str(by_load.value) and "binance-lake sync" in str(by_stream.value)


def test_no_rows_is_no_batches_and_the_schema_still_known(lake_root: Path) -> None:
    request = build_request("klines", "XEMUSDT", "2023-11-10", "2023-11-20", interval="1h", columns=["close"])
    stream = iter_batches(lake_root, request)
    assert list(stream) == []
    assert stream.schema.names == ["symbol", "open_time", "close"]
    assert stream.reader().read_all().num_rows == 0


def test_the_reader_carries_missing_like_an_arrow_frame(lake_root: Path) -> None:
    request = build_request("klines", "BTCUSDT,ETHUSDT", "2023-09-20", "2023-10-10", interval="1h")
    stream = iter_batches(lake_root, request, batch_rows=100)
    table = stream.reader().read_all()
    assert table.equals(load_table(lake_root, request).table)
    assert missing_of(table) == stream.missing and stream.missing
    # Iterating again reads the files again: the same rows.
    assert collect(stream).equals(table)


def test_lake_iter_batches_takes_the_arguments_of_load(sim_server: SimServer, lake_root: Path) -> None:
    lake = lake_on(sim_server, lake_root)
    asked = ("klines", "ethusdt,BTCUSDT", "2023-09-29", "2023-10-02T12:00")
    stream = lake.iter_batches(*asked, interval="1h", columns=["close", "volume"])
    frame = lake.load(*asked, interval="1h", columns=["close", "volume"], as_="arrow")
    assert isinstance(stream, Batches) and collect(stream).equals(frame)
    assert stream.missing == missing_of(frame)
    with pytest.raises(UsageError, match="batch_rows"):
        lake.iter_batches("klines", "BTCUSDT", "2023-10-01", interval="1h", batch_rows=0)


@pytest.mark.parametrize("rows", [0, -1, True, 2.5])
def test_batch_rows_must_be_a_positive_count(lake_root: Path, rows: object) -> None:
    request = build_request("klines", "BTCUSDT", "2023-10-01", "2023-10-01", interval="1h")
    with pytest.raises(UsageError, match="batch_rows must be a positive number of rows"):
        iter_batches(lake_root, request, batch_rows=rows)  # type: ignore[arg-type]


def test_a_partition_gone_after_the_plan_is_a_storage_error_naming_it(
    lake_root: Path, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(lake_root, tmp_path / "lake"))
    request = build_request("klines", "BTCUSDT", "2023-09-01", "2023-11-30", interval="1h")
    stream = iter_batches(root, request, batch_rows=24)
    batches = iter(stream)
    assert next(batches).num_rows == 24  # September's file is open; October's not yet
    (root / "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2023-10.parquet").unlink()
    with pytest.raises(StorageError, match=r"2023-10\.parquet .*binance-lake sync"):
        list(batches)


@given(
    sizes=st.lists(st.integers(0, 50), max_size=30),
    rows=st.integers(1, 40),
)
def test_rebatch_cuts_and_joins_to_full_batches_keeping_order(sizes: list[int], rows: int) -> None:
    numbers = iter(range(10_000))
    pieces = [pa.record_batch({"n": [next(numbers) for _ in range(size)]}) for size in sizes]
    got = list(rebatch(pieces, rows))
    assert [n for b in got for n in b.column("n").to_pylist()] == list(range(sum(sizes)))
    assert all(b.num_rows == rows for b in got[:-1]) and all(0 < b.num_rows <= rows for b in got)


# ----------------------------------------------------------------------- bounded memory

MONTHS = 6
BIG_SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six months of one-minute bars of two symbols: twelve monthly partitions of ~45k rows (~4 MB) each."""
    root = tmp_path_factory.mktemp("big")
    builder = LakeBuilder(root)
    schema = get_dataset("klines").schema(Market.UM)
    rng = np.random.default_rng(1)
    for symbol in BIG_SYMBOLS:
        for month in range(1, MONTHS + 1):
            first, after = D(2024, month, 1), D(2024, month + 1, 1)
            count = (after - first).days * 24 * 60
            opens = np.datetime64(first, "us") + np.arange(count) * np.timedelta64(60_000_000, "us")
            columns: dict[str, pa.Array[Any]] = {}
            for field in schema:
                if field.name == "open_time":
                    columns[field.name] = pa.array(opens, field.type)
                elif field.name == "close_time":
                    columns[field.name] = pa.array(opens + np.timedelta64(59_999_000, "us"), field.type)
                elif pa.types.is_integer(field.type):
                    columns[field.name] = pa.array(rng.integers(1, 500, count), field.type)
                else:
                    columns[field.name] = pa.array(rng.random(count) * 100, field.type)
            path = root / partition_for_day("klines", Market.UM, Interval.M1, symbol, first).path
            path.parent.mkdir(parents=True, exist_ok=True)
            write_table_atomic(path, pa.table(columns, schema=schema))
            builder.held("klines", symbol, first, after - dt.timedelta(days=1), interval=Interval.M1)
    builder.commit()
    return root


# Buffers allocated from a pool outlive the measurement (caches, returned tables) and free into it later:
# the pools must outlive them, so they live as long as the process.
_POOLS: list[pa.MemoryPool] = []


def peak_bytes(work: Callable[[], T]) -> tuple[int, T]:
    """The most memory Arrow held at once while `work` ran (its own pool, so earlier use does not count)."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    _POOLS.append(pool)
    pa.set_memory_pool(pool)
    try:
        out = work()
    finally:
        pa.set_memory_pool(previous)
    return pool.max_memory() or 0, out


def test_memory_is_bounded_by_a_partition_not_the_result(big_lake: Path) -> None:
    request = build_request("klines", list(BIG_SYMBOLS), "2024-01-01", "2024-06-30", interval="1m")
    partition = max(pq.read_table(p).nbytes for p in big_lake.rglob("*.parquet"))
    loaded_peak, table = peak_bytes(lambda: load_table(big_lake, request).table)
    assert loaded_peak >= table.nbytes > 10 * partition  # the measure sees a whole load

    def stream() -> tuple[int, int]:
        rows = largest = 0
        for batch in iter_batches(big_lake, request, batch_rows=10_000):
            rows += batch.num_rows
            largest = max(largest, batch.num_rows)
        return rows, largest

    streamed_peak, (rows, largest) = peak_bytes(stream)
    assert rows == table.num_rows and largest == 10_000
    # One partition decoded plus the batch being handed over: never two partitions, let alone the result.
    assert streamed_peak < 2 * partition < table.nbytes / 5


@pytest.mark.parametrize("read_ahead", [1, 3])
def test_read_ahead_yields_the_same_batches(lake_root: Path, read_ahead: int) -> None:
    request = build_request("klines", list(SYNCED), "2023-09-01", "2023-11-30", interval="1h")
    plain = collect(iter_batches(lake_root, request, batch_rows=500, require=False))
    ahead = iter_batches(lake_root, request, batch_rows=500, require=False, read_ahead=read_ahead)
    assert ahead.read_ahead == read_ahead
    assert collect(ahead).equals(plain)
    assert plain.num_rows > 0
    broken = iter(ahead)
    next(broken)  # abandoning a stream midway cancels the reads queued ahead
    broken.close()  # type: ignore[attr-defined]
