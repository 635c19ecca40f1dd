"""`check --rest` against the simulator, whose manifest says where the archive and REST differ: the daily file
the archive never published (a 404 day) is a `missing-file` gap whose bars REST has; a maintenance window seen
on one symbol alone (an `upstream` gap) is missing from REST too; datasets without a kline endpoint are not
asked. The probe goes through the shared REST client, whose requests and weight it counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from binance_lake.facade.rest_probe import RestKlinesProbe
from binance_lake.lake import Lake
from binance_lake.quality.store import GAPS_SCHEMA
from binance_lake.sim import placement
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer

DAY = dt.timedelta(days=1)


def test_the_404_day_is_a_missing_file_gap_rest_has(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "klines" and f.market.value == "um"]
    # Before the month's file is published, the lake holds the month's days from daily files.
    sim_server = make_sim(now=dt.datetime.combine(missing.period + 5 * DAY, dt.time(12), dt.UTC))
    lake = Lake(settings=sim_server.settings(tmp_path))
    first, last = missing.period - 2 * DAY, missing.period + 2 * DAY
    assert lake.sync(datasets="klines", intervals="1h", symbols=missing.symbol, start=first, end=last).ok
    now = sim_server.universe.clock.now()

    offline = lake.check(datasets="klines", start=first, end=last, now=now)
    assert offline.ok, offline.findings.to_pylist()
    (gap,) = [g for g in offline.gaps.to_pylist() if g["kind"] == "missing-file"]
    assert "REST" not in gap["detail"]

    report = lake.check(datasets="klines", start=first, end=last, now=now, probe=True)
    (gap,) = [g for g in report.gaps.to_pylist() if g["kind"] == "missing-file"]
    assert (gap["first_day"], gap["last_day"]) == (missing.period, missing.period)
    assert "REST has them" in gap["detail"] and "update --fill-gaps" in gap["detail"]
    (stored,) = lake.gaps(kind="missing-file", as_="arrow").to_pylist()
    assert stored["detail"] == gap["detail"]


def test_a_maintenance_window_is_missing_from_rest_too(sim_server: SimServer, tmp_path: Path) -> None:
    begin, end = next(w for w in Manifest(sim_server.universe).maintenance_windows if w[0].year == 2023)
    lake = Lake(settings=sim_server.settings(tmp_path))
    day = begin.date()
    assert lake.sync(datasets="klines", intervals="1h", symbols="BTCUSDT", start=day, end=day).ok
    probe = RestKlinesProbe(lake.settings)
    report = lake.check(
        datasets="klines", start=day, end=day, now=sim_server.universe.clock.now(), probe=probe
    )
    (gap,) = report.gaps.to_pylist()
    assert gap["kind"] == "upstream" and gap["start_time"] >= begin and gap["end_time"] < end
    assert gap["detail"] == "the archive lacks these bars, and REST too"
    assert probe.requests >= 1 and probe.weight >= probe.requests


def test_datasets_without_klines_are_not_asked(sim_server: SimServer, tmp_path: Path) -> None:
    day = dt.date(2024, 3, 5)
    row = {"market": "um", "dataset": "metrics", "interval": None, "symbol": "ETHUSDT", "first_day": day,
           "last_day": day, "start_time": None, "end_time": None, "bars": None, "kind": "missing-file",
           "detail": "1 day(s)"}  # fmt: skip
    probe = RestKlinesProbe(sim_server.settings(tmp_path))
    assert probe(pa.Table.from_pylist([row], schema=GAPS_SCHEMA)) == [None]
    assert probe.requests == 0
