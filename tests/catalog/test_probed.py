"""catalog/probed.py and seed 002's availability row: `daily_availability` says 200 for a listed or probed
day, 404 for a day a probe found missing (the simulator's late upload, issue #150) until it appears, and when
each day was last asked (`probe_timestamp`); `file_size_bytes` is the file's size as the simulator serves it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from binance_lake.catalog.probed import record_probed
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.timerange import UTC
from binance_lake.sim.bucket import Bucket
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from tests.catalog.test_probe_sim import LATE, _probe, _refresh, kline

D = dt.date


def row(database: LakeDatabase, day: dt.date) -> tuple[object, ...]:
    with database.connect() as c:
        found = c.execute(
            "SELECT available, status_code, file_size_bytes, size, probe_timestamp FROM daily_availability "
            "WHERE market = 'um' AND dataset = 'klines' AND \"interval\" = '1h' AND symbol = 'SOLUSDT' "
            "AND date = ?",
            [day],
        ).fetchall()
    assert len(found) == 1, found
    return tuple(found[0])


@pytest.mark.asyncio
async def test_a_late_upload_is_404_until_it_appears(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(now=dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    database = LakeDatabase(tmp_path)
    await _refresh(server, database, "SOLUSDT", D(2026, 11, 10), D(2026, 11, 19))
    listed_at = row(database, D(2026, 11, 16))[4]
    meta = Bucket(server.universe).head(kline("SOLUSDT", D(2026, 11, 16)).key, server.universe.clock.now())
    assert meta is not None
    assert row(database, D(2026, 11, 16))[:4] == (True, 200, meta.size, meta.size)
    before_probe = dt.datetime.now(dt.UTC)
    await _probe(server, database, D(2026, 11, 19), 3)
    available, status, size, _, probed = row(database, LATE.first_day)
    assert (available, status, size) == (False, 404, None)
    assert isinstance(probed, dt.datetime) and probed >= before_probe
    assert row(database, D(2026, 11, 18))[4] > listed_at  # probed again: its time moves on
    server.universe.clock.set(dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    await _probe(server, database, D(2026, 11, 20), 4)
    assert row(database, LATE.first_day)[:2] == (True, 200)
    with database.connect() as c:
        answers = c.execute("SELECT status_code FROM probe_results WHERE key = ?", [LATE.key]).fetchall()
    assert answers == [(200,)]  # one row a key: its newest answer


@pytest.mark.asyncio
async def test_a_day_not_uploaded_yet_extends_the_series(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    # The simulator's day 2026-11-20 file appears the next morning: asked on the 20th it is a 404 row.
    server = make_sim(now=dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    database = LakeDatabase(tmp_path)
    await _refresh(server, database, "SOLUSDT", D(2026, 11, 10), D(2026, 11, 19))
    report = await _probe(server, database, D(2026, 11, 20), 1)
    assert report.missing == (kline("SOLUSDT", D(2026, 11, 20)).key,)
    assert row(database, D(2026, 11, 20))[:2] == (False, 404)


def test_record_keeps_the_newest_answer_per_key(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    ensure_catalog(database)
    first, later = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    sol, btc = kline("SOLUSDT", D(2026, 11, 20)), kline("BTCUSDT", D(2026, 11, 20))
    with database.connect() as c:
        assert record_probed(c, [], [sol, btc], first) == 2
        assert record_probed(c, [sol], [], later) == 1
        assert record_probed(c, [], [], later) == 0
        rows = c.execute(
            "SELECT symbol, day, status_code, probed_at FROM probe_results ORDER BY symbol"
        ).fetchall()
    assert rows == [("BTCUSDT", D(2026, 11, 20), 404, first), ("SOLUSDT", D(2026, 11, 20), 200, later)]
