"""REST-only statistics through `Lake.update` against the simulator: the first run collects the 30 days REST
keeps, later runs (the simulator's clock moved on) add only what is new, so the lake holds more than REST's
30 days, equal row for row to the simulator's ground truth (its 5-minute metrics); `Lake.load` reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake import Lake
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Market
from binance_lake.sim.rest_series import DayTables
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe

T0 = dt.datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
STEP = dt.timedelta(days=12)


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(Universe.build("small", now=T0)) as running:
        yield running


def _truth(universe: Universe, column: str, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, float]:
    tables = DayTables(universe)
    out: dict[dt.datetime, float] = {}
    day = start.date()
    while day <= end.date():
        table = tables.get(Market.UM, "metrics", "BTCUSDT", None, day)
        for t, v in zip(
            table.column("create_time").to_pylist(), table.column(column).to_pylist(), strict=True
        ):
            if start <= t <= end and v is not None:
                out[t] = v
        day += dt.timedelta(days=1)
    return out


def test_statistics_accumulate_beyond_the_thirty_days_rest_keeps(server: SimServer, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    lake = Lake(root, settings=server.settings(root))
    ask = {"market": "um", "datasets": "openInterestHist,takerlongshortRatio", "symbols": "BTCUSDT"}
    first = lake.update(**ask)
    assert first.ok and first.fill.rows > 2 * 29 * 288
    assert {w.series.dataset for w in first.fill.windows} == {"openInterestHist", "takerlongshortRatio"}
    assert not first.syncs  # no archive for REST-only datasets
    for step in (1, 2):
        server.universe.clock.set(T0 + step * STEP)
        assert lake.update().ok  # the held series, from their last stored row
    end = T0 + 2 * STEP
    # Up to date: the next 5-minute row is not due yet, so nothing is asked but the server's time.
    again = lake.update()
    assert again.ok and again.fill.windows == () and again.fill.requests == 1

    oi = lake.load(
        "openInterestHist",
        "BTCUSDT",
        T0 - dt.timedelta(days=40),
        end + dt.timedelta(minutes=5),
        market="um",
        as_="arrow",
    )
    assert isinstance(oi, pa.Table)
    times = oi.column("timestamp").to_pylist()
    assert times == sorted(set(times))
    assert min(times) <= T0 - dt.timedelta(days=29) and max(times) == end
    assert (max(times) - min(times)).days > 50  # REST serves 30 of them at any time
    truth = _truth(server.universe, "sum_open_interest", T0 - dt.timedelta(days=30), end)
    got = dict(zip(times, oi.column("sum_open_interest").to_pylist(), strict=True))
    assert got.keys() == truth.keys()
    assert all(got[t] == pytest.approx(truth[t], rel=1e-8) for t in truth)
    taker = lake.load(
        "takerlongshortRatio",
        "BTCUSDT",
        T0 - dt.timedelta(days=40),
        end + dt.timedelta(minutes=5),
        market="um",
        as_="arrow",
    )
    ratio_truth = _truth(server.universe, "sum_taker_long_short_vol_ratio", T0 - dt.timedelta(days=30), end)
    ratios = dict(
        zip(taker.column("timestamp").to_pylist(), taker.column("buy_sell_ratio").to_pylist(), strict=True)
    )
    assert ratios.keys() == ratio_truth.keys()
    assert all(ratios[t] == pytest.approx(ratio_truth[t], rel=1e-8) for t in ratio_truth)
