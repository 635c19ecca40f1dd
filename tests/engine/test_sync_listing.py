"""The sync's listing lists daily directories only where no monthly file covers the days, and plans exactly
what a listing of everything plans (ground truth: the simulator's archive, listed whole)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.http import make_session
from binance_lake.catalog.refresh import RefreshReport, refresh
from binance_lake.core.archive import ParsedKey, parse_key
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import FileState, FileStatus, record
from binance_lake.engine.sync import SyncRequest, _refresh_selection, plan_from_catalog
from binance_lake.engine.sync_listing import refresh_monthly_first, without_months
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase

D = dt.date
# Sim "now" is 2026-11-20: 2026-08 .. 10 have monthly files, November only daily ones.
REQUEST = SyncRequest(
    Market.UM, ("klines",), D(2026, 8, 10), D(2026, 11, 15), (Interval.H1,), ("BTCUSDT", "ETHUSDT")
)


def _listed(server: SimServer, database: LakeDatabase, *, monthly_first: bool) -> RefreshReport:
    async def go() -> RefreshReport:
        async with make_session() as session:
            client = ArchiveClient(session, server.settings())
            how = refresh_monthly_first if monthly_first else refresh
            return await how(client, database, _refresh_selection(REQUEST), archive_url=server.base_url)

    return asyncio.run(go())


def _daily_months(database: LakeDatabase) -> set[tuple[str, D]]:
    with database.connect(read_only=True) as connection:
        rows = connection.execute(
            "SELECT DISTINCT symbol, date_trunc('month', period)::DATE FROM upstream_files WHERE cadence = 'daily'"
        ).fetchall()
    return {(symbol, month) for symbol, month in rows}


def _plan_keys(database: LakeDatabase) -> tuple[list[str], dict[object, object]]:
    report = plan_from_catalog(REQUEST, database)
    return sorted(p.key for p in report.plan.fetch), dict(report.plan.unavailable)


def test_monthly_first_plans_what_listing_everything_plans(sim_server: SimServer, tmp_path: Path) -> None:
    whole, first = LakeDatabase(tmp_path / "whole"), LakeDatabase(tmp_path / "first")
    everything = _listed(sim_server, whole, monthly_first=False)
    narrowed = _listed(sim_server, first, monthly_first=True)
    assert _plan_keys(first) == _plan_keys(whole)
    fetched, _ = _plan_keys(first)
    assert {parse_key(k).file.cadence for k in fetched if isinstance(parse_key(k), ParsedKey)} == {
        Cadence.MONTHLY,
        Cadence.DAILY,
    }
    # Only November's daily directories were listed; the whole listing saw August .. November.
    assert _daily_months(first) == {(s, D(2026, 11, 1)) for s in REQUEST.symbols}
    assert {m for _, m in _daily_months(whole)} == {D(2026, m, 1) for m in (8, 9, 10, 11)}
    assert narrowed.keys < everything.keys and narrowed.files_seen < everything.files_seen


def test_a_quarantined_monthly_file_has_its_days_listed_daily(sim_server: SimServer, tmp_path: Path) -> None:
    """The plan falls back to a quarantined monthly file's daily files, so their listing is not skipped."""
    database = LakeDatabase(tmp_path)
    _listed(sim_server, database, monthly_first=True)  # an earlier sync, which quarantined the file
    assert ("ETHUSDT", D(2026, 9, 1)) not in _daily_months(database)
    key = "data/futures/um/monthly/klines/ETHUSDT/1h/ETHUSDT-1h-2026-09.zip"
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey)
    with database.connect() as connection:
        ((etag, size),) = connection.execute(
            "SELECT etag, size FROM upstream_files WHERE key = ?", [key]
        ).fetchall()
        bad = FileState(
            key, parsed.file, FileStatus.QUARANTINED, etag=etag, size=size, error="bad bytes twice"
        )
        record(connection, [bad])
    _listed(sim_server, database, monthly_first=True)
    months = _daily_months(database)
    assert (("ETHUSDT", D(2026, 9, 1)) in months) and (("BTCUSDT", D(2026, 9, 1)) not in months)
    fetched, _ = _plan_keys(database)
    assert key not in fetched
    assert any("/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2026-09-" in k for k in fetched)


def test_a_dry_run_after_it_reports_nothing_unlisted(sim_server: SimServer, tmp_path: Path) -> None:
    """The daily days it skipped are covered by monthly files: not "never listed" to a dry run."""
    database = LakeDatabase(tmp_path)
    _listed(sim_server, database, monthly_first=True)
    assert plan_from_catalog(REQUEST, database).unlisted == ()
    wider = dataclasses.replace(REQUEST, first_day=D(2026, 7, 1))
    assert [(u.series, u.ranges) for u in plan_from_catalog(wider, database).unlisted] == [
        ("klines 1h", ((D(2026, 7, 1), D(2026, 7, 31)),))
    ]


@given(
    start=st.dates(D(2025, 1, 1), D(2025, 12, 31)),
    length=st.integers(0, 120),
    months=st.sets(st.integers(1, 12)),
)
def test_without_months_drops_exactly_the_days_of_those_months(
    start: D, length: int, months: set[int]
) -> None:
    last = start + dt.timedelta(days=length)
    firsts = {D(2025, m, 1) for m in months} | (
        {D(2026, m, 1) for m in months} if last.year > 2025 else set()
    )
    kept = without_months([(start, last)], firsts)
    days = {d for lo, hi in kept for d in iter_days(lo, hi)}
    assert days == {d for d in iter_days(start, last) if d.replace(day=1) not in firsts}
    assert all(lo <= hi for lo, hi in kept) and list(kept) == sorted(kept)
