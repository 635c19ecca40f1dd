"""`stream --postgres`: flushed rows land in a real PostgreSQL 15 (tests/pg_server.py) with source `stream`,
equal to what the lake stored; PostgreSQL stopped mid-run → the collector keeps running, says so once, and
catches up when the server is back."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from binance_lake import Lake
from binance_lake.core.errors import UsageError
from binance_lake.realtime.collector import Collector
from binance_lake.realtime.request import StreamOptions
from binance_lake.sim.server import SimServer
from tests.components import require
from tests.pg_server import INSTALL, Cluster, available, pg_dsn, pg_server, postgres_cluster
from tests.realtime.truth import fast_universe, stored

__all__ = ["pg_dsn", "pg_server"]

OPTIONS = StreamOptions(flush_interval=0.2, compact_interval=0.5, silence_timeout=5.0)


def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn) as connection:
        return list(connection.execute(query.encode()).fetchall())


def _lake_bars(root: Path, symbol: str) -> list[tuple[Any, ...]]:
    bars = stored(root, "klines", symbol, "1m")
    return [
        (symbol, "1m", r["open_time"], r["open"], r["high"], r["low"], r["close"], r["volume"], r["count"])
        for r in bars.to_pylist()
    ]


def _pg_bars(dsn: str) -> list[tuple[Any, ...]]:
    return _rows(
        dsn,
        "SELECT symbol, timeframe, time, open, high, low, close, volume, trades FROM ohlcv ORDER BY symbol, time",
    )


def test_streamed_rows_land_in_postgres_with_source_stream(tmp_path: Path, pg_dsn: str) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=600) as server:
        lake = Lake(settings=server.settings(tmp_path))

        async def run() -> Collector:
            async with lake.stream(
                ["BTCUSDT"], "kline_1m,markPrice@1s,forceOrder", all_liquidations=True, postgres=pg_dsn,
                options=OPTIONS,
            ) as collector:  # fmt: skip
                await collector.run_for(3.0)
            return collector

        collector = asyncio.run(run())
        assert collector.stats.sinks == {"postgres": "up"}
        bars = _lake_bars(tmp_path, "BTCUSDT")
        assert len(bars) >= 10
        assert _pg_bars(pg_dsn) == bars
        assert {r[0] for r in _rows(pg_dsn, "SELECT DISTINCT source FROM ohlcv")} == {"stream"}
        marks = stored(tmp_path, "markPrice", "BTCUSDT")
        held = _rows(
            pg_dsn,
            "SELECT time, mark_price, index_price, funding_rate, next_funding_time, source FROM mark_price_updates "
            "WHERE symbol = 'BTCUSDT' ORDER BY time",
        )
        expected = [
            (r["event_time"], r["mark_price"], r["index_price"], r["funding_rate"],
             int(r["next_funding_time"].timestamp() * 1000), "stream")
            for r in marks.to_pylist()
        ]  # fmt: skip
        assert held == expected and len(held) >= 3
        liquidations = pa.concat_tables(
            stored(tmp_path, "liquidations", d.name.removeprefix("symbol="))
            for d in sorted((tmp_path / "tables" / "liquidations" / "market=um").glob("symbol=*"))
        )
        pg_liquidations = _rows(
            pg_dsn, "SELECT time, side, price, original_quantity FROM liquidations ORDER BY 1,2,3,4"
        )
        want = sorted(
            (r["time"], r["side"], r["price"], r["original_quantity"]) for r in liquidations.to_pylist()
        )
        assert pg_liquidations == want and len(want) >= 1


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require(available(), "PostgreSQL 15", INSTALL)
    require(
        importlib.util.find_spec("psycopg") is not None, "psycopg 3", "pip install 'binance-lake[postgres]'"
    )
    with postgres_cluster() as running:
        yield running


def test_postgres_stopped_mid_run_the_collector_survives_and_catches_up(
    tmp_path: Path, cluster: Cluster
) -> None:
    events: list[dict[str, object]] = []
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=600) as server:
        lake = Lake(settings=server.settings(tmp_path))

        async def run() -> Collector:
            async with lake.stream(
                ["BTCUSDT"], "kline_1m", postgres=cluster.dsn, options=OPTIONS, log=events.append
            ) as collector:
                live = collector.live_sinks[0]
                while live.rows_written < 3:  # noqa: ASYNC110 - the first rows reach PostgreSQL
                    await asyncio.sleep(0.05)
                await asyncio.to_thread(cluster.stop)
                flushed = collector.stats.rows_flushed
                await collector.run_for(2.0)
                assert collector.stats.rows_flushed > flushed, "the collector kept storing rows"
                assert not live.up and live.kept_rows > 0
                await asyncio.to_thread(cluster.start)
                while not live.up or live.kept_rows:  # noqa: ASYNC110 - catching up once it is back
                    await asyncio.sleep(0.05)
                await collector.run_for(0.5)
            return collector

        collector = asyncio.run(asyncio.wait_for(run(), 60))
    kinds = [e["event"] for e in events]
    assert kinds.count("postgres_down") == 1 and kinds.count("postgres_back") == 1
    assert collector.stats.sinks == {"postgres": "up"}
    assert _pg_bars(cluster.dsn) == _lake_bars(tmp_path, "BTCUSDT")


def test_an_empty_dsn_is_one_usage_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--postgres must name a PostgreSQL database"):
        Lake(tmp_path).stream(["BTCUSDT"], "kline_1m", postgres=" ")


def test_writes_are_idempotent_and_touch_only_their_times(pg_dsn: str) -> None:
    from binance_lake.core.datasets import get_dataset
    from binance_lake.core.vocabulary import Market
    from binance_lake.export.postgres.stream_tables import StreamTables

    schema = get_dataset("klines").schema(Market.UM)
    times = pa.array([60_000_000 * k for k in range(4)], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    values = {
        n: pa.array([float(k) for k in range(4)])
        for n in schema.names
        if schema.field(n).type == pa.float64()
    }
    columns = {
        "open_time": times, "close_time": times, "count": pa.array([1, 2, 3, 4], pa.int64()), **values,
    }  # fmt: skip
    table = pa.table([columns[n] for n in schema.names], schema=schema)
    table = table.append_column("symbol", pa.array(["BTCUSDT"] * 4))
    sink = StreamTables(pg_dsn, schema=f"s_{uuid.uuid4().hex[:6]}")
    try:
        assert (
            sink.write([("um", "klines", "1m", table.slice(0, 1)), ("um", "klines", "1m", table.slice(3))])
            == 2
        )
        # Again, with rows 1–3 and a duplicate of row 3: rows 0 and 3 stay once each, nothing between is lost.
        doubled = pa.concat_tables([table.slice(1), table.slice(3)])
        assert sink.write([("um", "klines", "1m", doubled)]) == 3
        assert sink.write([("um", "klines", "1m", doubled)]) == 3
        held = _rows(pg_dsn, f"SELECT trades FROM {sink.schema}.ohlcv ORDER BY time")
        assert [r[0] for r in held] == [1, 2, 3, 4]
        assert pc.sum(table["count"]).as_py() == sum(r[0] for r in held)
    finally:
        sink.close()


def _bars(minutes: list[int], symbol: str) -> pa.Table:
    from binance_lake.core.datasets import get_dataset
    from binance_lake.core.vocabulary import Market

    schema = get_dataset("klines").schema(Market.UM)
    times = pa.array([60_000_000 * m for m in minutes], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    columns: dict[str, Any] = {"open_time": times, "close_time": times}
    columns["count"] = pa.array(minutes, pa.int64())
    for name in schema.names:
        if name not in columns:
            columns[name] = pa.array([float(m) for m in minutes], pa.float64())
    table = pa.table([columns[n] for n in schema.names], schema=schema)
    return table.append_column("symbol", pa.array([symbol] * len(minutes), pa.string()))


@pytest.mark.slow
def test_any_flushes_resent_in_any_order_leave_postgres_equal_to_their_union(pg_dsn: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from binance_lake.export.postgres.stream_tables import StreamTables

    flush = st.tuples(
        st.sampled_from(["BTCUSDT", "ETHUSDT"]), st.lists(st.integers(0, 40), min_size=1, max_size=12)
    )

    @settings(max_examples=15, deadline=None)
    @given(st.lists(flush, min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=4))
    def check(flushes: list[tuple[str, list[int]]], resent: list[int]) -> None:
        sink = StreamTables(pg_dsn, schema=f"s_{uuid.uuid4().hex[:8]}")
        try:
            order = [*flushes, *(flushes[i % len(flushes)] for i in resent)]
            for symbol, minutes in order:
                sink.write([("um", "klines", "1m", _bars(minutes, symbol))])
            held = _rows(pg_dsn, f"SELECT symbol, trades FROM {sink.schema}.ohlcv ORDER BY symbol, time")
            union = sorted({(symbol, m) for symbol, minutes in flushes for m in minutes})
            assert held == union
        finally:
            sink.close()

    check()
