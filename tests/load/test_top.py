"""load/top.py: a lake's 30-day quote-volume ranking equals the simulator's own bars summed over the window,
point-in-time for a past end day; a lake without the market's klines in the window has no ranking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest

from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.load.top import WINDOW_DAYS, lake_ranking
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe

END = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def synced(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("top")
    lake = Lake(settings=sim_server.settings(root))
    for market in ("um", "cm"):
        report = lake.sync(
            market=market, datasets="klines", intervals="1d", symbols=None, start="2026-09-01", end=END
        )
        assert report.ok
    yield root


def truth(universe: Universe, market: Market, last: dt.date) -> dict[str, float]:
    first = last - dt.timedelta(days=WINDOW_DAYS - 1)
    totals: dict[str, float] = {}
    for symbol in universe.symbols(market):
        if symbol.is_delivery:
            continue
        for day in iter_days(first, last):
            if symbol.active_on(day):
                table = universe.day_table(market, "klines", symbol.symbol, Interval.D1, day)
                volume = table["quote_volume"]
                if market is Market.CM:
                    volume = pc.multiply(volume, table["close"])
                totals[symbol.symbol] = totals.get(symbol.symbol, 0.0) + float(pc.sum(volume).as_py() or 0.0)
    return totals


@pytest.mark.parametrize("market", [Market.UM, Market.CM])
@pytest.mark.parametrize("last", [END, dt.date(2026, 10, 10)])
def test_ranking_is_the_window_s_quote_volume(
    synced: Path, sim_server: SimServer, market: Market, last: dt.date
) -> None:
    ranked = lake_ranking(synced, market, last)
    assert ranked is not None
    expected = truth(sim_server.universe, market, last)
    assert [s for s, _ in ranked] == sorted(expected, key=lambda s: (-expected[s], s))
    for symbol, volume in ranked:
        assert volume == pytest.approx(expected[symbol], rel=1e-9)


def test_no_klines_in_the_window_is_no_ranking(synced: Path, tmp_path: Path) -> None:
    assert lake_ranking(synced, Market.UM, dt.date(2024, 1, 31)) is None
    assert lake_ranking(synced, Market.SPOT, END) is None
    assert lake_ranking(tmp_path, Market.UM, END) is None
