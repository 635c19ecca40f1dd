"""Catalog queries after a refresh of the tiny simulated universe, checked against the simulator's ground truth:
snapshot, timeline, range, earliest, synchronal and symbols."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.catalog import queries
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.sync import SyncRequest
from binance_lake.lake import Lake
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import Connection, LakeDatabase
from tests.catalog.tiny import roster_file, truth_objects
from tests.engine.test_sync_catalog_sim import D, listed_for

Series = tuple[str, str, str | None, str]
FIRST, LAST = dt.date(2026, 9, 1), dt.date(2026, 11, 30)


def series_of(file: ArchiveFile) -> Series:
    return (file.market.value, file.dataset, file.interval.value if file.interval else None, file.symbol)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, list[ArchiveFile], Universe]]:
    directory = tmp_path_factory.mktemp("tiny-queries")
    with SimServer(Universe.build(roster_file(directory))) as server:
        lake = Lake(settings=server.settings(directory / "lake"))
        lake.catalog.refresh()
        truth = truth_objects(Manifest(server.universe))
        files = [f for k, (f, _) in truth.items() if f is not None and not k.endswith(".CHECKSUM")]
        yield lake, files, server.universe


@pytest.fixture(scope="module")
def connection(world: tuple[Lake, list[ArchiveFile], Universe]) -> Iterator[Connection]:
    with world[0].database.connect() as c:
        yield c


def covered_days(files: list[ArchiveFile]) -> dict[Series, set[dt.date]]:
    days: dict[Series, set[dt.date]] = defaultdict(set)
    for f in files:
        days[series_of(f)].update(f.days())
    return days


@settings(max_examples=40, deadline=None)
@given(day=st.dates(FIRST, LAST))
def test_snapshot_is_every_series_covering_the_day(
    world: tuple[Lake, list[ArchiveFile], Universe], connection: Connection, day: dt.date
) -> None:
    _, files, _ = world
    expected: dict[Series, str] = {}
    for f in files:
        if f.first_day <= day <= f.last_day:
            key = series_of(f)
            if expected.get(key) != "daily":
                expected[key] = f.cadence.value
    table = queries.snapshot(connection, day).to_pylist()
    got = {(r["market"], r["dataset"], r["interval"], r["symbol"]): r["cadence"] for r in table}
    assert got == expected
    um = queries.snapshot(connection, day, queries.Filters(market="um", interval="1h")).to_pylist()
    assert {r["symbol"] for r in um} == {s[3] for s in expected if s[0] == "um" and s[2] == "1h"}


def test_timelines_match_the_covered_days(
    world: tuple[Lake, list[ArchiveFile], Universe], connection: Connection
) -> None:
    _, files, _ = world
    truth = covered_days(files)
    timelines = queries.timeline(connection, queries.Filters())
    assert {(t.market, t.dataset, t.interval, t.symbol) for t in timelines} == set(truth)
    for t in timelines:
        days = truth[(t.market, t.dataset, t.interval, t.symbol)]
        assert (t.first_day, t.last_day) == (min(days), max(days))
        assert set(t.missing_days) == set(iter_days(min(days), max(days))) - days
        assert t.available_days == len(days)
        assert sum(s.days for s in t.spans) == len(days) and all(s.first <= s.last for s in t.spans)
        assert t.files == sum(1 for f in files if series_of(f) == (t.market, t.dataset, t.interval, t.symbol))
    # The late upload (SOLUSDT 1h 2026-11-17, issue #150) is the one missing day of that series.
    (sol,) = queries.timeline(connection, queries.Filters(market="um", interval="1h", symbol="SOLUSDT"))
    assert sol.missing_days == (dt.date(2026, 11, 17),)


def test_earliest_and_range(world: tuple[Lake, list[ArchiveFile], Universe], connection: Connection) -> None:
    _, files, universe = world
    spans: dict[tuple[str, str, str], list[dt.date]] = {}
    intervals: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for f in files:
        key = (f.market.value, f.dataset, f.symbol)
        first, last = spans.get(key, [f.first_day, f.last_day])
        spans[key] = [min(first, f.first_day), max(last, f.last_day)]
        if f.interval is not None:
            intervals[key].add(f.interval.value)
    earliest = {
        (r["market"], r["dataset"], r["symbol"]): (r["earliest_date"], r["latest_date"], r["intervals"])
        for r in queries.earliest(connection).to_pylist()
    }
    assert earliest == {
        k: (a, b, ",".join(sorted(intervals[k])) if intervals[k] else None) for k, (a, b) in spans.items()
    }
    first, last = dt.date(2026, 10, 15), dt.date(2026, 10, 21)
    delisted = {
        s.symbol
        for s in universe.roster
        if s.status(universe.clock.now()) not in ("TRADING", "PENDING_TRADING")
    }
    rows = queries.date_range(connection, first, last).to_pylist()
    got = {(r["market"], r["dataset"], r["symbol"]): (r["listed"], r["delisted"]) for r in rows}
    assert got == {
        k: (first <= a <= last, k[2] in delisted and first <= b <= last)
        for k, (a, b) in spans.items()
        if a <= last and b >= first
    }
    # XEMUSDT (delisted 2026-10-19) ends with the monthly file of October: its span runs to 10-31.
    assert got[("um", "klines", "XEMUSDT")] == (False, False)
    late = {
        r["symbol"]: r["delisted"]
        for r in queries.date_range(connection, dt.date(2026, 10, 25), LAST).to_pylist()
    }
    assert late["XEMUSDT"] and late["CVCUSDTSETTLED"] and not late["BTCUSDT"]


def test_symbols_and_synchronal(
    world: tuple[Lake, list[ArchiveFile], Universe], connection: Connection
) -> None:
    _, files, universe = world
    now = universe.clock.now()
    rows = {(r["market"], r["symbol"]): r for r in queries.symbols(connection).to_pylist()}
    assert set(rows) == {(s.market.value, s.symbol) for s in universe.roster}
    for s in universe.roster:
        row = rows[(s.market.value, s.symbol)]
        own = [f for f in files if (f.market, f.symbol) == (s.market, s.symbol)]
        assert row["first_day"] == min(f.first_day for f in own)
        assert row["last_day"] == max(f.last_day for f in own)
        assert row["files"] == len(own)
        assert row["status"] == s.status(now)
        assert row["delisted"] == (s.status(now) not in ("TRADING", "PENDING_TRADING"))
        assert row["delivery_contract"] == s.is_delivery
    assert queries.symbols(connection, "cm").column("symbol").to_pylist() == ["BTCUSD_PERP"]
    synchronal = queries.synchronal(connection).to_pylist()
    assert [(r["base_asset"], r["spot_symbol"], r["um_symbol"], r["cm_symbol"]) for r in synchronal] == [
        ("BTC", "BTCUSDT", "BTCUSDT", "BTCUSD_PERP")
    ]
    spot_days = [f.first_day for f in files if f.market.value == "spot" and f.cadence is Cadence.DAILY]
    assert synchronal[0]["spot_earliest"] <= min(spot_days)


def test_a_narrow_listing_is_not_presented_as_the_whole_history(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Issue 9 item 4: after a sync's listing of 2026-10-10 .. 2026-10-20 only, BTCUSDT (listed 2026-10-01) is
    not said to start on 2026-10-10: earliest and timeline say what was listed, until the history is listed."""
    directory = tmp_path_factory.mktemp("narrow")
    with SimServer(Universe.build(roster_file(directory))) as server:
        database = LakeDatabase(directory / "lake")
        request = SyncRequest(
            Market.UM, ("klines",), D(2026, 10, 10), D(2026, 10, 20), (Interval.H1,), ("BTCUSDT",)
        )
        listed_for(server, database, request)
        filters = queries.Filters(market="um", dataset="klines", symbol="BTCUSDT")
        with database.connect(read_only=True) as c:
            (row,) = queries.earliest(c, filters).to_pylist()
            (line,) = queries.timeline(c, filters)
        assert row["earliest_date"] == D(2026, 10, 1)  # the October monthly file, as listed
        assert (row["complete"], row["listed_from"]) == (False, D(2026, 10, 1))
        assert row["listed"] == "2026-10-01..2026-10-31; 2026-10-10..2026-10-20"
        assert (line.complete, line.listed_from, line.first_day) == (False, D(2026, 10, 1), D(2026, 10, 1))
        with database.connect(read_only=True) as c:
            (span,) = queries.date_range(c, D(2026, 10, 1), D(2026, 10, 31), filters).to_pylist()
            symbols = {r["symbol"]: r for r in queries.symbols(c, "um").to_pylist()}
        # Whether it was listed (or delisted) in October is not known from a listing of ten days.
        assert (span["listed"], span["delisted"], span["active"], span["complete"]) == (
            None,
            None,
            True,
            False,
        )
        assert (symbols["BTCUSDT"]["delisted"], symbols["BTCUSDT"]["complete"]) == (None, False)
        # Listing the directory's whole history makes the answers the archive's, and says so.
        Lake(settings=server.settings(directory / "lake")).catalog.refresh(
            markets="um", datasets="klines", symbols="BTCUSDT", intervals="1h", exchange_info=False
        )
        with database.connect(read_only=True) as c:
            (row,) = queries.earliest(c, filters).to_pylist()
            (line,) = queries.timeline(c, filters)
            table = queries.timelines_table([line]).to_pylist()
        assert (row["complete"], row["listed_from"], row["listed"]) == (True, None, "all")
        with database.connect(read_only=True) as c:
            (span,) = queries.date_range(c, D(2026, 10, 1), D(2026, 10, 31), filters).to_pylist()
            (btc,) = [r for r in queries.symbols(c, "um").to_pylist() if r["symbol"] == "BTCUSDT"]
        assert (span["listed"], span["delisted"], span["complete"]) == (True, False, True)
        assert (btc["delisted"], btc["complete"]) == (False, True)
        assert (line.complete, line.first_day) == (True, D(2026, 10, 1))
        assert table[0]["complete"] is True and table[0]["listed"] == "all"


def test_a_whole_listing_of_one_dataset_says_nothing_of_another(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """fundingRate listed whole does not make a narrow klines listing of a delivery contract (which has no
    funding) its whole history."""
    directory = tmp_path_factory.mktemp("two-datasets")
    with SimServer(Universe.build(roster_file(directory))) as server:
        database = LakeDatabase(directory / "lake")
        request = SyncRequest(
            Market.UM, ("klines",), D(2026, 10, 10), D(2026, 10, 20), (Interval.D1,), ("BTCUSDT_261225",)
        )
        listed_for(server, database, request)
        Lake(settings=server.settings(directory / "lake")).catalog.refresh(
            markets="um", datasets="fundingRate", exchange_info=False
        )
        with database.connect(read_only=True) as c:
            found = {r["symbol"]: r for r in queries.symbols(c, "um").to_pylist()}
        assert (found["BTCUSDT_261225"]["complete"], found["BTCUSDT_261225"]["delisted"]) == (False, None)
        assert found["BTCUSDT"]["complete"] is True
