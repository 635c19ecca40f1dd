"""`catalog probe` against the simulator: a late daily upload is found once it appears, a re-upload becomes a
revision, a 404 never marks anything gone, and a probe that finds nothing new writes nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.archive_client import ArchiveClient, ObjectInfo
from binance_lake.binance.http import make_session
from binance_lake.catalog.probe import ProbeReport, Series, count_expected, expected_files, probe
from binance_lake.catalog.queries import Filters
from binance_lake.catalog.refresh import Selection, refresh
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import Stalled
from binance_lake.core.timerange import UTC, iter_days
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.lake import Lake
from binance_lake.sim import placement
from binance_lake.sim.bucket import Bucket
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase

D = dt.date


def kline(symbol: str, day: dt.date) -> ArchiveFile:
    return ArchiveFile(Market.UM, Cadence.DAILY, "klines", symbol, Interval.H1, day)


LATE = kline("SOLUSDT", D(2026, 11, 17))
REUPLOADED = kline("BTCUSDT", D(2026, 11, 2))


async def _refresh(
    server: SimServer, database: LakeDatabase, symbol: str, first: dt.date, last: dt.date
) -> None:
    selection = Selection(
        markets=(Market.UM,),
        datasets=("klines",),
        symbols=(symbol,),
        intervals=(Interval.H1,),
        first_day=first,
        last_day=last,
    )
    async with make_session() as session:
        await refresh(
            ArchiveClient(session, server.settings()), database, selection, archive_url=server.base_url
        )


async def _probe(server: SimServer, database: LakeDatabase, last_day: dt.date, days_back: int) -> ProbeReport:
    async with make_session() as session:
        client = ArchiveClient(session, server.settings())
        return await probe(
            client,
            database,
            last_day=last_day,
            days_back=days_back,
            filters=Filters(market="um", interval="1h"),
        )


def keys(database: LakeDatabase) -> set[str]:
    with database.connect() as c:
        return {k for (k,) in c.execute("SELECT key FROM upstream_files WHERE NOT gone").fetchall()}


def dump(database: LakeDatabase) -> list[tuple[object, ...]]:
    with database.connect() as c:
        return sorted(c.execute("SELECT * FROM upstream_files").fetchall(), key=repr)


@pytest.mark.asyncio
async def test_late_upload_is_found_by_probe(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    assert placement.LATE_FILES[LATE] == dt.timedelta(days=3)
    server = make_sim(now=dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    database = LakeDatabase(tmp_path)
    await _refresh(server, database, "SOLUSDT", D(2026, 11, 10), D(2026, 11, 19))
    assert LATE.key not in keys(database) and kline("SOLUSDT", D(2026, 11, 16)).key in keys(database)
    before = dump(database)
    early = await _probe(server, database, D(2026, 11, 19), 3)
    assert (early.series, early.probed, early.found) == (1, 3, 2)
    assert early.missing == (LATE.key,)
    assert early.changes.total == 0 and dump(database) == before  # nothing new: nothing written
    server.universe.clock.set(dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    later = await _probe(server, database, D(2026, 11, 20), 4)
    assert later.missing == () and later.changes.new == 2
    assert {LATE.key, kline("SOLUSDT", D(2026, 11, 20)).key} <= keys(database)
    with database.connect() as c:
        rows = c.execute(
            "SELECT size, etag, last_modified FROM upstream_files WHERE key = ?", [LATE.key]
        ).fetchall()
    meta = Bucket(server.universe).head(LATE.key, server.universe.clock.now())
    assert meta is not None and rows == [(meta.size, meta.etag, meta.last_modified)]


@pytest.mark.asyncio
async def test_reupload_is_found_by_probe(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    moment = placement.REUPLOADS[REUPLOADED]
    server = make_sim(now=moment - dt.timedelta(days=3))
    database = LakeDatabase(tmp_path)
    await _refresh(server, database, "BTCUSDT", D(2026, 11, 1), D(2026, 11, 5))
    with database.connect() as c:
        old = c.execute("SELECT etag, size FROM upstream_files WHERE key = ?", [REUPLOADED.key]).fetchall()
    server.universe.clock.set(moment + dt.timedelta(minutes=5))
    report = await _probe(server, database, D(2026, 11, 3), 2)
    assert (report.probed, report.found, report.changes.changed, report.changes.new) == (2, 2, 1, 0)
    with database.connect() as c:
        revisions = c.execute(
            "SELECT key, change, old_etag, old_size, new_etag FROM file_revisions"
        ).fetchall()
        new = c.execute("SELECT etag FROM upstream_files WHERE key = ?", [REUPLOADED.key]).fetchall()
    assert len(revisions) == 1 and revisions[0][:4] == (REUPLOADED.key, "changed", *old[0])
    assert revisions[0][4] == new[0][0] != old[0][0]


@pytest.mark.asyncio
async def test_a_missing_file_is_never_marked_gone(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    # BTCUSDT 1h 2024-02-16 was never published (#309): probing it finds nothing and changes nothing.
    missing = kline("BTCUSDT", D(2024, 2, 16))
    assert missing in placement.MISSING_FILES
    server = make_sim()
    database = LakeDatabase(tmp_path)
    await _refresh(server, database, "BTCUSDT", D(2024, 2, 10), D(2024, 2, 20))
    before = dump(database)
    report = await _probe(server, database, D(2024, 2, 17), 3)
    assert report.missing == (missing.key,) and report.found == 2
    assert report.changes.total == 0 and dump(database) == before


def test_a_hung_archive_ends_the_probe_with_stalled(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(faults="stall=1,stall_seconds=60@/data/*")  # listings answer, HEADs never do
    Lake(settings=server.settings(tmp_path)).catalog.refresh(
        markets="um", datasets="klines", symbols="BTCUSDT", intervals="1h", exchange_info=False
    )
    lake = Lake(settings=dataclasses.replace(server.settings(tmp_path), stall_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(Stalled, match=rf"no answer from 127\.0\.0\.1:{server.port} for 1 s"):
        lake.catalog.probe(dt.date(2026, 11, 19), days_back=2, markets="um", intervals="1h")
    assert time.monotonic() - started < 10


class _CountingProber:
    """Answers every HEAD with "not there yet" after a pause, recording the most requests in flight at once and
    the most asyncio tasks alive at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.most_tasks = 0
        self.heads = 0

    async def head(self, key: str) -> ObjectInfo | None:
        self.in_flight += 1
        self.heads += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        self.in_flight -= 1
        return None


@pytest.mark.asyncio
async def test_a_long_probe_runs_a_bounded_number_of_tasks(sim_server: SimServer, tmp_path: Path) -> None:
    """Ten years back is tens of thousands of HEADs; they run on `concurrency` workers, not one task each
    (a task per file held every expected file in memory at once and could not be interrupted)."""
    database = LakeDatabase(tmp_path)
    await _refresh(sim_server, database, "BTCUSDT", D(2026, 11, 1), D(2026, 11, 19))
    prober = _CountingProber()
    report = await probe(
        prober,
        database,
        last_day=D(2026, 11, 19),
        days_back=3660,
        filters=Filters(market="um"),
        concurrency=8,
    )
    assert report.probed == prober.heads == report.series * 3660 and len(report.missing) == report.probed
    assert prober.most_in_flight == 8
    assert prober.most_tasks <= 8 + 1  # the workers and the probe itself


SERIES = st.one_of(
    st.builds(
        Series,
        st.just(Market.UM),
        st.just("klines"),
        st.sampled_from([Interval.H1, Interval.D3, Interval.W1, Interval.MO1]),
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    ),
    st.builds(
        Series, st.just(Market.UM), st.just("metrics"), st.none(), st.sampled_from(["BTCUSDT", "ETHUSDT"])
    ),
)


@given(
    series=st.lists(SERIES, max_size=6),
    first=st.dates(D(2017, 1, 1), D(2030, 1, 1)),
    span=st.integers(0, 400),
)
def test_count_expected_counts_what_expected_files_yields(
    series: list[Series], first: dt.date, span: int
) -> None:
    days = list(iter_days(first, first + dt.timedelta(days=span)))
    files = expected_files(series, days)
    assert isinstance(files, Iterator)  # made one at a time
    assert count_expected(series, days) == sum(1 for _ in files)
