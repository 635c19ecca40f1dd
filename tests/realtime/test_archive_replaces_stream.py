"""A streamed day is provisional: when the archive publishes it, a sync replaces the stream rows with the
archive's, as it replaces REST rows, and the day's provenance says so."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from binance_lake import Lake
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.reconcile import provisional_days
from binance_lake.realtime.collector import Collector
from binance_lake.realtime.request import StreamOptions, build_request
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import held_days
from binance_lake.storage.reconciliation import reconciliations
from tests.realtime.truth import fast_universe, stored


def _sources(root: Path, day: dt.date) -> set[Provenance]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        held = held_days(
            connection, market="um", dataset="klines", interval="1m", symbols=["BTCUSDT"], first=day, last=day
        )
    return {h.source for h in held}


def test_the_archive_day_replaces_the_streamed_rows(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=120) as server:
        day = server.universe.clock.now().date()
        request = build_request("um", ["BTCUSDT"], "kline_1m", options=StreamOptions(flush_interval=0.3))

        async def run() -> None:
            async with Collector(server.settings(tmp_path), request) as collector:
                await collector.run_for(3.0)

        asyncio.run(run())
        assert _sources(tmp_path, day) == {Provenance.STREAM}
        streamed = stored(tmp_path, "klines", "BTCUSDT", "1m").num_rows
        assert 0 < streamed < 1440
        server.streams.speed = 0
        server.universe.clock.set(dt.datetime.combine(day + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC))
        Lake(settings=server.settings(tmp_path)).sync(
            datasets="klines", intervals="1m", symbols=["BTCUSDT"], start=day, end=day
        )
        assert _sources(tmp_path, day) == {Provenance.ARCHIVE_DAILY}
        bars = stored(tmp_path, "klines", "BTCUSDT", "1m")
        truth = server.universe.day_table(Market.UM, "klines", "BTCUSDT", Interval.M1, day)
        assert bars.equals(truth), "the whole archive day, the stream's rows replaced"


def test_an_update_records_the_stream_day_the_archive_replaced(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=120) as server:
        day = server.universe.clock.now().date()
        request = build_request(
            "um", ["BTCUSDT"], "kline_1m,markPrice@1s", options=StreamOptions(flush_interval=0.3)
        )

        async def run() -> Collector:
            async with Collector(server.settings(tmp_path), request) as collector:
                await collector.run_for(3.0)
            return collector

        collector = asyncio.run(run())
        streamed = stored(tmp_path, "klines", "BTCUSDT", "1m").num_rows
        assert streamed > 0
        bars = SeriesKey(Market.UM, "klines", Interval.M1, "BTCUSDT")
        marks = SeriesKey(Market.UM, "markPrice", None, "BTCUSDT")
        assert stored(tmp_path, "markPrice", "BTCUSDT").num_rows > 0
        with LakeDatabase(tmp_path).connect(read_only=True) as connection:
            kept = provisional_days(connection, tmp_path, [bars, marks])
        # A stream-only dataset's days are never waiting for the archive.
        assert [(k.series, k.day, k.source) for k in kept] == [(bars, day, Provenance.STREAM)]
        server.streams.speed = 0
        server.universe.clock.set(dt.datetime.combine(day + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC))
        lake = Lake(settings=server.settings(tmp_path))
        lake.update(datasets="klines", intervals="1m", symbols=["BTCUSDT"], days_back=3)
        assert _sources(tmp_path, day) == {Provenance.ARCHIVE_DAILY}
        with LakeDatabase(tmp_path).connect(read_only=True) as connection:
            records = [r for r in reconciliations(connection) if r.day == day]
            refs = connection.execute(
                "SELECT rest_ref, archive_ref FROM rest_reconciliations WHERE day = ?", [day]
            ).fetchall()
        assert len(records) == 1
        record = records[0]
        assert record.provenance is Provenance.STREAM
        assert (record.rest_rows, record.archive_rows, record.differing_rows) == (streamed, 1440, 0)
        assert refs[0][0] == collector.upstream_ref and refs[0][1].endswith(f"BTCUSDT-1m-{day}.zip")
