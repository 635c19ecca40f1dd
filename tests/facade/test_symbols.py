"""facade/symbols.py: `Lake.top_symbols` and `--symbols @top:N` — from the lake's klines when it holds them
(point-in-time), else from the simulator's REST 24 h tickers, whose ranking is checked against its own hourly
bars; a past end without the lake's klines, a bad N, and @top where nothing ranks are one sentence each."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from tests.cli.runner import assert_one_sentence, run_cli
from tests.load.test_top import END, truth


def rest_truth(universe: Universe, market: Market) -> list[str]:
    """Symbols by the quote volume of their last 24 closed hourly bars (the simulator's ticker window)."""
    now = universe.clock.now()
    last_open = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    first_open = last_open - dt.timedelta(hours=23)
    totals: dict[str, float] = {}
    for symbol in universe.symbols(market):
        if symbol.is_delivery or symbol.listed > now.date():
            continue
        for day in {first_open.date(), last_open.date()}:
            if not symbol.active_on(day):
                continue
            table = universe.day_table(market, "klines", symbol.symbol, Interval.H1, day)
            times = table["open_time"]
            mask = pc.and_(pc.greater_equal(times, first_open), pc.less_equal(times, last_open))
            volume = table.filter(mask)["quote_volume"]
            if market is Market.CM:
                volume = pc.multiply(volume, table.filter(mask)["close"])
            totals[symbol.symbol] = totals.get(symbol.symbol, 0.0) + float(pc.sum(volume).as_py() or 0.0)
    return sorted((s for s in totals if totals[s] > 0), key=lambda s: (-totals[s], s))


@pytest.mark.parametrize("market", [Market.UM, Market.SPOT, Market.CM])
def test_without_klines_the_ranking_is_rest_s(sim_server: SimServer, tmp_path: Path, market: Market) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    expected = rest_truth(sim_server.universe, market)
    assert lake.top_symbols(3, market=market.value) == expected[:3]


def test_a_past_end_needs_the_lake_s_klines(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    with pytest.raises(
        UsageError, match=r"@top:5 for 2026-10-31 needs the lake's um klines .* --start 2026-10-02"
    ):
        lake.top_symbols(5, market="um", end=END)
    with pytest.raises(UsageError, match="positive number"):
        lake.top_symbols(0)


def test_sync_and_load_take_top_from_the_lake(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    assert lake.sync(
        market="um", datasets="klines", intervals="1d", symbols=None, start="2026-09-01", end=END
    ).ok
    expected = truth(sim_server.universe, Market.UM, END)
    ranked = sorted(expected, key=lambda s: (-expected[s], s))
    top2, last = ranked[:2], ranked[-1]
    assert lake.top_symbols(2, market="um", end=END) == top2
    dry = lake.sync(
        market="um", datasets="klines", intervals="1d", symbols=f"@top:2,{last}", start="2026-10-01", end=END,
        dry_run=True,
    )  # fmt: skip
    assert dry.symbols == (*top2, last)
    frame = lake.load("klines", "@top:2", "2026-10-20", END, market="um", interval="1d", as_="arrow")
    assert sorted(set(frame["symbol"].to_pylist())) == sorted(top2)
    with pytest.raises(UsageError, match="is ranked by volume by `sync` and `load`"):
        lake.catalog.refresh(markets="um", symbols="@top:2")


def test_cli_load_with_top(sim_server: SimServer, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    env = {**sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(root)}
    # no --end: today, so an empty lake ranks by the REST tickers
    done = run_cli(
        "sync", "--market", "um", "--intervals", "1d", "--symbols", "@top:2", "--start", "2026-11-10",
        "--format", "json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    top2 = rest_truth(sim_server.universe, Market.UM)[:2]
    assert json.loads(done.stdout)["symbols"] == top2
    # a past --end now ranks from the lake's klines (the two symbols just synced)
    out = tmp_path / "top.csv"
    loaded = run_cli(
        "load", "klines", "--symbols", "@top:1", "--start", "2026-11-10", "--end", "2026-11-12",
        "--interval", "1d", "--out", str(out), env=env,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    with out.open(newline="") as handle:
        held = {row["symbol"] for row in csv.DictReader(handle)}
    assert len(held) == 1 and held <= set(top2)
    bad = run_cli(
        "load", "klines", "--symbols", "@top:x", "--start", "2026-11-10", "--out", str(out), env=env
    )
    assert_one_sentence(bad, 2, "@top:N takes a positive number")


def test_load_names_the_ccxt_name_of_a_symbol_never_held(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    assert lake.sync(market="um", datasets="klines", intervals="1d", symbols="BTCUSDT", start=END, end=END).ok
    with pytest.raises(UsageError, match=r"SOLUSDT.*\(SOL/USDT:USDT is SOLUSDT on um\)"):
        lake.load("klines", iter(["SOL/USDT:USDT"]), END, END, market="um", interval="1d")
    frame = lake.load("klines", iter(["BTC/USDT:USDT"]), END, END, market="um", interval="1d", as_="arrow")
    assert set(frame["symbol"].to_pylist()) == {"BTCUSDT"}
