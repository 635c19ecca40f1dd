"""The collector takes the writer lock only for its compaction bursts: a sync runs beside a running collector,
and a burst that finds the lock held is deferred, losing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from binance_lake import Lake
from binance_lake.core.errors import LakeLocked
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.realtime.collector import Collector
from binance_lake.realtime.request import StreamOptions, build_request
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import WriterLock
from tests.realtime.truth import explain, fast_universe, stored, truth_between

OPTIONS = StreamOptions(flush_interval=0.2, compact_interval=0.3, silence_timeout=5.0)


def _retrying(action: object, attempts: int = 50) -> object:
    """A writer meeting a compaction burst is refused (LakeLocked, as any two writers): it tries again."""
    assert callable(action)
    for _ in range(attempts - 1):
        try:
            return action()
        except LakeLocked:
            time.sleep(0.05)
    return action()


def test_a_sync_runs_beside_a_running_collector(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=120) as server:
        settings = server.settings(tmp_path)
        past = server.universe.clock.now().date() - dt.timedelta(days=3)
        request = build_request("um", ["BTCUSDT"], "kline_1m", options=OPTIONS)

        async def run() -> Collector:
            async with Collector(settings, request) as collector:
                while collector.stats.rows_compacted == 0:  # noqa: ASYNC110 - waiting for the first burst
                    await asyncio.sleep(0.05)
                lake = Lake(settings=settings)
                await asyncio.to_thread(
                    _retrying,
                    lambda: lake.sync(
                        datasets="klines", intervals="1h", symbols=["BTCUSDT"], start=past, end=past
                    ),
                )
                # Another writer holds the lock for a while: bursts are deferred, the rows wait in segments.
                lock = WriterLock(tmp_path)
                await asyncio.to_thread(_retrying, lock.acquire)
                try:
                    before = collector.stats.rows_compacted
                    await asyncio.sleep(1.5)
                    assert collector.stats.compactions_deferred > 0
                    assert collector.stats.rows_compacted == before
                    assert collector.stats.rows_flushed > before, "segments kept being written, lock-free"
                finally:
                    lock.release()
                while collector.stats.rows_compacted == before:  # noqa: ASYNC110 - the next burst catches up
                    await asyncio.sleep(0.05)
            return collector

        collector = asyncio.run(run())
        assert collector.stats.rows_compacted == collector.stats.rows_flushed
        synced = stored(tmp_path, "klines", "BTCUSDT", "1h")
        assert synced.equals(server.universe.day_table(Market.UM, "klines", "BTCUSDT", Interval.H1, past))
        bars = stored(tmp_path, "klines", "BTCUSDT", "1m")
        truth = truth_between(server.universe, "klines", "BTCUSDT", Interval.M1, "open_time", bars)
        assert bars.num_rows >= 5
        assert bars.equals(truth), explain(bars, truth, "open_time")


def test_segments_left_by_a_run_that_never_got_the_lock_are_compacted_by_the_next(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=120) as server:
        settings = server.settings(tmp_path)
        options = StreamOptions(flush_interval=0.2, compact_interval=0.3, final_compact_wait=0.3)
        request = build_request("um", ["BTCUSDT"], "kline_1m", options=options)
        events: list[dict[str, object]] = []

        async def run(seconds: float) -> Collector:
            async with Collector(settings, request, log=events.append) as collector:
                await collector.run_for(seconds)
            return collector

        with WriterLock(tmp_path):  # a writer for the whole first run
            first = asyncio.run(run(1.5))
        assert first.stats.rows_flushed > 0 and first.stats.rows_compacted == 0
        assert any(e["event"] == "segments_left" for e in events)
        assert not (tmp_path / "tables").exists()
        asyncio.run(run(0.5))
        assert any(e["event"] == "compacted_leftovers" for e in events)
        bars = stored(tmp_path, "klines", "BTCUSDT", "1m")
        truth = truth_between(server.universe, "klines", "BTCUSDT", Interval.M1, "open_time", bars)
        assert bars.num_rows >= first.stats.rows_flushed
        assert bars.equals(truth), explain(bars, truth, "open_time")
