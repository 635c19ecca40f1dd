"""The collector on an s3:// root (moto): its segments stay in the local state directory, its compactions go to
the bucket as recorded partition objects, and a restart after a pause repairs the hole from the last stored
values, which it finds from the records (the bucket is never listed): what the lake holds equals the ground
truth, with nothing missing between the first run's first row and the second run's last."""

from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.core.vocabulary import Interval
from binance_lake.lake import Lake
from binance_lake.realtime.collector import Collector
from binance_lake.realtime.segments import SEGMENTS_DIR
from binance_lake.sim.server import SimServer
from binance_lake.storage import objects
from binance_lake.storage.inventory import partition_table
from tests.realtime.test_collector import FAST, SYMBOLS
from tests.realtime.truth import explain, fast_universe, truth_between
from tests.s3_server import S3Root


def stored(lake: Lake, dataset: str, symbol: str) -> pa.Table:
    """The rows of the series' recorded partitions, read from their objects."""
    with lake.database.connect(read_only=True) as connection:
        paths = sorted(
            r["path"]
            for r in partition_table(connection).to_pylist()
            if r["dataset"] == dataset and r["symbol"] == symbol
        )
    assert paths, f"nothing recorded for {dataset} {symbol}"
    return pa.concat_tables([pq.read_table(objects.source(lake.root / p)) for p in paths])


def test_a_stream_on_an_s3_root_compacts_to_the_bucket_and_a_restart_repairs_the_hole(
    s3_root: S3Root,
) -> None:
    with SimServer(fast_universe(SYMBOLS), stream_speed=60) as server:
        lake = Lake(s3_root.url, settings=server.settings())

        async def run(seconds: float) -> Collector:
            async with lake.stream(SYMBOLS, "kline_1m,aggTrade", options=FAST) as collector:
                await collector.run_for(seconds)
            return collector

        asyncio.run(run(2.0))
        time.sleep(1.5)  # the market goes on while nothing listens: a hole of ~90 simulated seconds
        second = asyncio.run(run(2.0))
        assert second.stats.repaired_rows > 0, "the restart fetched the hole from REST"
        state = s3_root.state_dir
        assert (state / SEGMENTS_DIR).is_dir() and not list((state / SEGMENTS_DIR).rglob("*.parquet"))
        assert not list((state / "tables").rglob("*.parquet"))  # the partitions are objects only
        for symbol in SYMBOLS:
            bars = stored(lake, "klines", symbol)
            truth = truth_between(server.universe, "klines", symbol, Interval.M1, "open_time", bars)
            assert bars.num_rows >= 3 and bars.equals(truth), explain(bars, truth, "open_time")
            trades = stored(lake, "aggTrades", symbol)
            truth = truth_between(server.universe, "aggTrades", symbol, None, "agg_trade_id", trades)
            assert trades.equals(truth), explain(trades, truth, "agg_trade_id")
