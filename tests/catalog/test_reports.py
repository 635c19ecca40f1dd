"""catalog/reports.py and `catalog reports`: seed 001's files from a refresh of a small simulated universe,
checked against the simulator's own file list (earliest days, intervals, the spot ∩ um ∩ cm rule)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from binance_lake.catalog.reports import CONSOLIDATED_COLUMNS, FILTERED_COLUMNS, base_asset
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval
from binance_lake.lake import Lake
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from tests.catalog.tiny import truth_objects
from tests.cli.runner import assert_one_sentence, run_cli

ROSTER = """
[[symbols]]
market = "spot"
symbol = "BTCUSDT"
listed = "2026-10-01"
datasets = ["klines"]
intervals = ["1d", "1h", "1m"]

[[symbols]]
market = "spot"
symbol = "ETHUSDT"
listed = "2026-10-05"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "spot"
symbol = "SHIBUSDT"
listed = "2026-10-03"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "spot"
symbol = "XEMUSDT"
listed = "2026-09-20"
delisted = "2026-10-19"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "spot"
symbol = "ETHBTC"
listed = "2026-10-01"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "um"
symbol = "BTCUSDT"
listed = "2026-10-02"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "um"
symbol = "1000SHIBUSDT"
listed = "2026-10-04"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "um"
symbol = "XEMUSDT"
listed = "2026-09-20"
delisted = "2026-10-19"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "cm"
symbol = "BTCUSD_PERP"
listed = "2026-10-06"
datasets = ["klines"]
intervals = ["1d"]

[[symbols]]
market = "cm"
symbol = "ETHUSD_PERP"
listed = "2026-10-06"
datasets = ["klines"]
intervals = ["1d"]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, Universe, SimServer, Path]]:
    directory = tmp_path_factory.mktemp("reports")
    roster = directory / "roster.toml"
    roster.write_text(ROSTER, encoding="utf-8")
    with SimServer(Universe.build(str(roster))) as server:
        lake = Lake(settings=server.settings(directory / "lake"))
        lake.catalog.refresh(datasets="klines")
        yield lake, server.universe, server, directory


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def truth(universe: Universe) -> dict[tuple[str, str], tuple[dt.date, dt.date, list[str]]]:
    """(market, symbol) -> earliest day, latest day, intervals in Binance's order: from the served files."""
    days: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    intervals: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, (file, _) in truth_objects(Manifest(universe)).items():
        if file is None or key.endswith(".CHECKSUM") or file.dataset != "klines":
            continue
        days[(file.market.value, file.symbol)] += [file.first_day, file.last_day]
        intervals[(file.market.value, file.symbol)].add(file.interval.value if file.interval else "")
    order = [i.value for i in Interval]
    return {k: (min(v), max(v), sorted(intervals[k], key=order.index)) for k, v in days.items()}


def test_every_market_file_matches_the_served_files(world: tuple[Lake, Universe, SimServer, Path]) -> None:
    lake, universe, _, directory = world
    out = directory / "out-all"
    written = lake.catalog.reports(out)
    names = {w.path.name: w.rows for w in written}
    assert set(names) == {
        "spot_earliest_dates.csv",
        "um_earliest_dates.csv",
        "cm_earliest_dates.csv",
        "spot_um_usdt_filtered.csv",
        "spot_synchronal.csv",
        "consolidated_base_symbols.csv",
    }
    expected = truth(universe)
    for market in ("spot", "um", "cm"):
        rows = read(out / f"{market}_earliest_dates.csv")
        assert names[f"{market}_earliest_dates.csv"] == len(rows)
        assert {(r["market"], r["symbol"]): (r["earliest_date"], r["available_intervals"]) for r in rows} == {
            k: (first.isoformat(), ",".join(ivs)) for k, (first, _, ivs) in expected.items() if k[0] == market
        }


def test_filtered_lists_follow_the_seed_rule(world: tuple[Lake, Universe, SimServer, Path]) -> None:
    lake, universe, _, directory = world
    out = directory / "out-filtered"
    lake.catalog.reports(out)
    expected = truth(universe)
    newest = {
        m: max(last for (mm, _), (_, last, _) in expected.items() if mm == m) for m in ("spot", "um", "cm")
    }

    def bases(market: str) -> set[str]:
        return {
            b
            for (m, s), (_, last, _) in expected.items()
            if m == market and (b := base_asset(m, s)) and last > newest[m] - dt.timedelta(days=5)
        }

    filtered = read(out / "spot_um_usdt_filtered.csv")
    synchronal = read(out / "spot_synchronal.csv")
    assert list(filtered[0]) == list(FILTERED_COLUMNS)
    # XEM is delisted (no recent data), ETHBTC has no USDT quote, 1000SHIBUSDT is SHIB's perpetual
    assert {r["base_symbol"] for r in filtered} == bases("spot") & bases("um") == {"BTC", "SHIB"}
    assert {r["symbol"] for r in synchronal} == {"BTCUSDT"}
    assert [r["earliest_date"] for r in filtered] == sorted(r["earliest_date"] for r in filtered)
    consolidated = read(out / "consolidated_base_symbols.csv")
    assert list(consolidated[0]) == list(CONSOLIDATED_COLUMNS)
    by_base = {r["base_symbol"]: r for r in consolidated}
    assert set(by_base) == bases("spot") | bases("um") | bases("cm")
    assert by_base["BTC"]["markets"] == "spot,um,cm"
    assert by_base["SHIB"]["um_symbol"] == "1000SHIBUSDT"
    assert by_base["ETH"]["markets"] == "spot,cm" and by_base["ETH"]["um_symbol"] == ""
    assert by_base["BTC"]["cm_earliest_date"] == expected[("cm", "BTCUSD_PERP")][0].isoformat()


def test_reports_for_some_markets_and_bad_markets(world: tuple[Lake, Universe, SimServer, Path]) -> None:
    lake, _, _, directory = world
    written = lake.catalog.reports(directory / "out-spot-um", markets="spot,um")
    assert {w.path.name for w in written} == {
        "spot_earliest_dates.csv",
        "um_earliest_dates.csv",
        "spot_um_usdt_filtered.csv",
        "consolidated_base_symbols.csv",
    }
    with pytest.raises(UsageError, match="spot, um and cm"):
        lake.catalog.reports(directory / "x", markets="option")


def test_cli_reports_then_shortlist_with_file(world: tuple[Lake, Universe, SimServer, Path]) -> None:
    lake, _, server, directory = world
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(lake.root)}
    out = directory / "out-cli"
    done = run_cli("catalog", "reports", "--out", str(out), "--markets", "spot,um,cm", env=env)
    assert done.returncode == 0, done.stderr
    assert f"rows to {out / 'spot_synchronal.csv'}" in done.stdout
    # the seed's shortlisting: the synchronal file is a symbol set wherever --symbols is taken
    dry = run_cli(
        "sync", "--market", "spot", "--datasets", "klines", "--intervals", "1h",
        "--symbols", f"@file:{out / 'spot_synchronal.csv'}", "--start", "2026-11-01", "--end", "2026-11-02",
        "--dry-run", "--format", "json", env=env,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["symbols"] == ["BTCUSDT"]
    blocked = run_cli("catalog", "reports", "--out", str(out / "spot_synchronal.csv"), env=env)
    assert_one_sentence(blocked, 1, "cannot write the reports")
