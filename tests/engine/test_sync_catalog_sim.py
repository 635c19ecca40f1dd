"""What a sync takes from the catalog, against the simulator: `--all` is every symbol that traded on any day of
the range whatever the catalog was listed for before (no survivorship bias), and a dry run plans from the
catalog as it is, writes nothing, and says which requested days the catalog never listed."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.http import make_session
from binance_lake.catalog.refresh import refresh
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.sync import SyncRequest, _refresh_selection, resolve_symbols
from binance_lake.lake import Lake
from binance_lake.sim.bucket import Bucket
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import DATABASE_NAME, LakeDatabase

D = dt.date


def all_request(first: D, last: D, *, include_delisted: bool = False) -> SyncRequest:
    return SyncRequest(
        market=Market.UM,
        datasets=("klines",),
        first_day=first,
        last_day=last,
        intervals=(Interval.D1,),
        include_delisted=include_delisted,
    )


async def _refresh_for(server: SimServer, database: LakeDatabase, request: SyncRequest) -> None:
    """What `sync` lists before planning `request` (its own days only)."""
    async with make_session() as session:
        client = ArchiveClient(session, server.settings())
        await refresh(client, database, _refresh_selection(request), archive_url=server.base_url)


def listed_for(server: SimServer, database: LakeDatabase, request: SyncRequest) -> None:
    asyncio.run(_refresh_for(server, database, request))


def resolved(database: LakeDatabase, request: SyncRequest) -> set[str]:
    ensure_catalog(database)
    with database.connect(read_only=True) as connection:
        return set(resolve_symbols(connection, request))


def traded(server: SimServer, first: D, last: D, *, include_settled: bool = False) -> set[str]:
    """Ground truth: the um symbols with 1d klines on any day of `first .. last`."""
    bucket = Bucket(server.universe)
    found = set()
    for symbol in server.universe.symbols(Market.UM):
        window = bucket.window(Market.UM, "klines", symbol.symbol, Interval.D1)
        if window is None or (symbol.settled and not include_settled):
            continue
        days = iter_days(max(first, window[0]), min(last, window[1]))
        if any(symbol.active_on(day) for day in days):
            found.add(symbol.symbol)
    return found


def test_all_keeps_a_symbol_delisted_later_on_a_lake_listed_for_later_days(
    sim_server: SimServer, tmp_path: Path
) -> None:
    """Issue 9 item 3: XEMUSDT (delisted 2023-10-19) traded all of 2023-09; a lake that had synced 2024-01
    before left it out, because the catalog's newest day made its last listed day look like a delisting."""
    database = LakeDatabase(tmp_path)
    listed_for(sim_server, database, all_request(D(2024, 1, 1), D(2024, 1, 31)))
    september = all_request(D(2023, 9, 1), D(2023, 9, 30))
    listed_for(sim_server, database, september)
    symbols = resolved(database, september)
    assert {"XEMUSDT", "BTCUSDT_230929"} <= symbols  # delisted / delivered since, both traded that month
    assert symbols == traded(sim_server, D(2023, 9, 1), D(2023, 9, 30))
    # The same on a fresh lake.
    fresh = LakeDatabase(tmp_path / "fresh")
    listed_for(sim_server, fresh, september)
    assert resolved(fresh, september) == symbols


def test_all_leaves_out_a_symbol_whose_trading_ended_before_the_range(
    sim_server: SimServer, tmp_path: Path
) -> None:
    """XEMUSDT's monthly file of 2023-10 covers the 25th, but its daily files stop on the 19th."""
    database = LakeDatabase(tmp_path)
    late_october = all_request(D(2023, 10, 25), D(2023, 10, 31))
    listed_for(sim_server, database, late_october)
    assert "XEMUSDT" not in resolved(database, late_october)
    assert resolved(database, late_october) == traded(sim_server, D(2023, 10, 25), D(2023, 10, 31))


def test_include_delisted_adds_the_settlement_series(sim_server: SimServer, tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    may = all_request(D(2023, 5, 10), D(2023, 5, 20))
    listed_for(sim_server, database, may)
    plain = resolved(database, may)
    with_settled = resolved(database, all_request(D(2023, 5, 10), D(2023, 5, 20), include_delisted=True))
    assert "CVCUSDT" in plain and "CVCUSDTSETTLED" not in plain
    assert with_settled - plain == {"CVCUSDTSETTLED"}
    assert with_settled == traded(sim_server, D(2023, 5, 10), D(2023, 5, 20), include_settled=True)


# Ranges before 2026-11 (every file of them is published at the simulator's now), around the roster's
# listings and delistings (2023: XEMUSDT, CVCUSDT, BTCUSDT_230929; 2025: 1000000BOBUSDT, BTCUSDT_250328).
dates = st.dates(D(2023, 4, 1), D(2026, 10, 31))
windows = st.tuples(dates, st.integers(0, 75)).map(
    lambda w: (w[0], min(w[0] + dt.timedelta(days=w[1]), D(2026, 10, 31)))
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # Earlier listings, in any order: `--all` syncs, or narrow syncs of a few symbols (their own days only).
    history=st.lists(
        st.tuples(windows, st.sampled_from(((), ("XEMUSDT",), ("BTCUSDT", "BTCUSDT_230929")))),
        min_size=0,
        max_size=2,
    ),
    asked=windows,
    include_delisted=st.booleans(),
)
def test_all_is_every_symbol_that_traded_in_the_range_whatever_was_listed_before(
    sim_server: SimServer,
    history: list[tuple[tuple[D, D], tuple[str, ...]]],
    asked: tuple[D, D],
    include_delisted: bool,
) -> None:
    with tempfile.TemporaryDirectory() as root:
        database = LakeDatabase(Path(root))
        for (first, last), symbols in history:
            listed_for(sim_server, database, dataclasses.replace(all_request(first, last), symbols=symbols))
        request = all_request(*asked, include_delisted=include_delisted)
        listed_for(sim_server, database, request)
        assert resolved(database, request) == traded(sim_server, *asked, include_settled=include_delisted)


# -- dry run: the catalog as it is, nothing written -------------------------------------------------------


def database_digest(root: Path) -> str:
    return hashlib.sha256((root / DATABASE_NAME).read_bytes()).hexdigest()


BTC_1H = {"datasets": "klines", "symbols": "BTCUSDT", "intervals": "1h"}


def test_dry_run_on_a_fresh_lake_lists_and_writes_nothing(sim_server: SimServer, tmp_path: Path) -> None:
    report = Lake(settings=sim_server.settings(tmp_path)).sync(
        **BTC_1H, start="2026-11-01", end="2026-11-03", dry_run=True
    )
    assert report.refresh is None and report.plan.is_empty and report.plan.unavailable == {}
    assert [(u.series, u.ranges) for u in report.unlisted] == [
        ("klines 1h", ((D(2026, 11, 1), D(2026, 11, 3)),))
    ]
    assert not (tmp_path / DATABASE_NAME).exists() and not (tmp_path / TABLES_DIR).exists()


def test_dry_run_plans_from_the_catalog_and_leaves_the_database_untouched(
    sim_server: SimServer, tmp_path: Path
) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    lake.sync(**BTC_1H, start="2026-11-01", end="2026-11-02")
    before = database_digest(tmp_path)
    # Asked: two held days, one listed day not fetched yet, then days the catalog never listed.
    report = lake.sync(**BTC_1H, start="2026-11-01", end="2026-11-05", dry_run=True)
    assert database_digest(tmp_path) == before
    assert report.refresh is None and report.plan.held == 2
    assert [(u.series, u.ranges) for u in report.unlisted] == [
        ("klines 1h", ((D(2026, 11, 3), D(2026, 11, 5)),))
    ]
    # Never-listed days are not reported as missing upstream.
    assert report.plan.unavailable == {}
    assert report.summary()["catalog_unlisted"] == {"klines 1h": [["2026-11-03", "2026-11-05"]]}


def test_dry_run_refuses_a_symbol_only_when_the_catalog_listed_its_days(
    sim_server: SimServer, tmp_path: Path
) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    funding = {"datasets": "fundingRate", "start": "2026-09-01", "end": "2026-09-30", "dry_run": True}
    lake.sync(**BTC_1H, start="2026-11-01", end="2026-11-01")
    # Never listed: no file of it is known, yet nothing says it does not exist.
    unlisted = lake.sync(symbols="ETHUSDT", **funding)  # type: ignore[arg-type]
    assert unlisted.symbols == ("ETHUSDT",) and unlisted.plan.is_empty
    assert [u.series for u in unlisted.unlisted] == ["fundingRate"]
    lake.catalog.refresh(markets="um", datasets="fundingRate", exchange_info=False)
    with pytest.raises(UsageError, match="not in the um archive: NOPEUSDT"):
        lake.sync(symbols="NOPEUSDT", **funding)  # type: ignore[arg-type]
    listed = lake.sync(symbols="ETHUSDT", **funding)  # type: ignore[arg-type]
    assert listed.unlisted == () and len(listed.plan.fetch) == 1


def test_dry_run_on_a_catalog_without_listing_records_plans_what_it_holds(
    sim_server: SimServer, tmp_path: Path
) -> None:
    """A lake whose catalog was written before listings were recorded: its files are planned, and every asked
    day is said to have no listing on record (nothing is added to the database to find out)."""
    database = LakeDatabase(tmp_path)
    request = SyncRequest(
        Market.UM, ("klines",), D(2026, 11, 1), D(2026, 11, 3), (Interval.H1,), ("BTCUSDT",)
    )
    listed_for(sim_server, database, request)
    with database.connect() as connection:
        connection.execute("DROP TABLE listed_ranges")
    before = database_digest(tmp_path)
    report = Lake(settings=sim_server.settings(tmp_path)).sync(
        **BTC_1H, start="2026-11-01", end="2026-11-03", dry_run=True
    )
    assert len(report.plan.fetch) == 3 and database_digest(tmp_path) == before
    assert [(u.series, u.ranges) for u in report.unlisted] == [
        ("klines 1h", ((D(2026, 11, 1), D(2026, 11, 3)),))
    ]


def test_all_from_a_catalog_that_listed_part_of_a_month_keeps_the_symbol(
    sim_server: SimServer, tmp_path: Path
) -> None:
    """Daily files of 2023-10-01 .. 05 only (a narrow sync of XEMUSDT) do not prove XEMUSDT stopped before the
    10th: resolved from the catalog as it is (a dry run lists nothing), its monthly file keeps it in."""
    database = LakeDatabase(tmp_path)
    narrow = dataclasses.replace(all_request(D(2023, 10, 1), D(2023, 10, 5)), symbols=("XEMUSDT",))
    listed_for(sim_server, database, narrow)
    assert "XEMUSDT" in resolved(database, all_request(D(2023, 10, 10), D(2023, 10, 15)))
    # The days after its delisting are known to be over once the whole month's daily files were listed.
    listed_for(
        sim_server, database, dataclasses.replace(narrow, first_day=D(2023, 10, 1), last_day=D(2023, 10, 31))
    )
    assert "XEMUSDT" in resolved(database, all_request(D(2023, 10, 10), D(2023, 10, 15)))
    assert "XEMUSDT" not in resolved(database, all_request(D(2023, 10, 25), D(2023, 10, 31)))
