"""`catalog refresh` against the simulator: the catalog equals the simulator's ground truth exactly, a re-upload
becomes a revision, an unchanged second refresh writes nothing, and exchangeInfo is optional."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.http import make_session
from binance_lake.catalog.refresh import RefreshReport, Selection, refresh
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import Stalled
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.lake import Lake
from binance_lake.sim import placement
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from tests.catalog.tiny import roster_file, truth_objects, truth_other

TABLES = ("upstream_files", "file_revisions", "upstream_other", "exchange_symbols", "catalog_meta")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimServer, Lake, RefreshReport]]:
    directory = tmp_path_factory.mktemp("tiny")
    with SimServer(Universe.build(roster_file(directory))) as server:
        lake = Lake(settings=server.settings(directory / "lake"))
        yield server, lake, lake.catalog.refresh()


def dump(lake: Lake) -> dict[str, list[tuple[object, ...]]]:
    with lake.database.connect() as c:
        return {t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_catalog_equals_the_ground_truth(tiny: tuple[SimServer, Lake, RefreshReport]) -> None:
    server, lake, report = tiny
    manifest = Manifest(server.universe)
    truth = truth_objects(manifest)
    zips = {k: (f, m) for k, (f, m) in truth.items() if f is not None and not k.endswith(".CHECKSUM")}
    with lake.database.connect() as c:
        rows = c.execute(
            "SELECT key, market, dataset, symbol, interval, cadence, period, first_day, last_day, size, etag, "
            "last_modified, checksum_size, canonical, gone FROM upstream_files"
        ).fetchall()
        other = {k for (k,) in c.execute("SELECT key FROM upstream_other").fetchall()}
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))  # every key once
    assert set(keys) == set(zips)
    for (
        key,
        market,
        dataset,
        symbol,
        interval,
        cadence,
        period,
        first,
        last,
        size,
        etag,
        modified,
        *rest,
    ) in rows:
        file, meta = zips[key]
        assert file is not None
        assert (
            ArchiveFile(
                Market(market),
                Cadence(cadence),
                dataset,
                symbol,
                Interval(interval) if interval else None,
                period,
            )
            == file
        )
        assert (first, last) == (file.first_day, file.last_day)
        assert (size, etag, modified) == (meta.size, meta.etag, meta.last_modified)
        checksum_size, canonical, gone = rest
        assert checksum_size == truth[key + ".CHECKSUM"][1].size
        assert canonical and not gone
    # Delisted, settled and delivery symbols are all there; non-dataset keys are counted, never files.
    symbols = {r[0] for r in rows if r[1] == "um"} | {(r[1], r[3]) for r in rows}  # type: ignore[arg-type]
    for name in ("XEMUSDT", "CVCUSDTSETTLED", "BTCUSDT_261225"):
        assert ("um", name) in symbols
    assert (
        other
        == truth_other(manifest)
        == {
            placement.EMPTY_NAME_DIRECTORY_KEY,
            "data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-03-05.zip.tmp",
        }
    )
    assert report.other_keys == len(other) and report.files_seen == len(zips)
    assert report.changes.new == len(zips) and report.exchange_error is None


def test_exchange_info_is_stored_for_every_market(tiny: tuple[SimServer, Lake, RefreshReport]) -> None:
    server, lake, _ = tiny
    now = server.universe.clock.now()
    expected = {
        (s.market.value, s.symbol, s.status(now), s.contract_type)
        for s in server.universe.roster
        if s.market is not Market.OPTION
    }
    with lake.database.connect() as c:
        stored = set(
            c.execute("SELECT market, symbol, status, contract_type FROM exchange_symbols").fetchall()
        )
        delisted = dict(c.execute("SELECT symbol, delisted FROM symbols WHERE market = 'um'").fetchall())
        settled = dict(c.execute("SELECT symbol, settled FROM symbols WHERE market = 'um'").fetchall())
        cm = c.execute("SELECT status FROM exchange_symbols WHERE market = 'cm'").fetchall()
    assert stored == expected
    assert cm == [("TRADING",)]  # read from COIN-M's `contractStatus` (reference §4.3)
    assert delisted == {
        "BTCUSDT": False,
        "SOLUSDT": False,
        "XEMUSDT": True,
        "CVCUSDTSETTLED": True,
        "BTCUSDT_261225": False,
    }
    assert settled["CVCUSDTSETTLED"] and not settled["BTCUSDT"]


def test_unchanged_second_refresh_writes_nothing(tiny: tuple[SimServer, Lake, RefreshReport]) -> None:
    _, lake, _ = tiny
    before = dump(lake)
    again = lake.catalog.refresh()
    assert again.changes.total == 0 and again.exchange_symbols == 0
    assert again.changes.unchanged == again.files_seen > 0
    assert dump(lake) == before


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_refresh_succeeds_when_exchange_info_is_unreachable(
    tiny: tuple[SimServer, Lake, RefreshReport], tmp_path: Path
) -> None:
    server, _, _ = tiny
    dead = f"http://127.0.0.1:{_closed_port()}"
    settings = dataclasses.replace(server.settings(tmp_path), fapi_url=dead)
    report = Lake(settings=settings).catalog.refresh(markets="um", datasets="fundingRate")
    assert report.changes.new > 0
    assert report.exchange_error is not None
    assert dead in report.exchange_error and "BINANCE_LAKE_FAPI_URL" in report.exchange_error


REUPLOADED = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2026, 11, 2))


async def _refresh_range(
    server: SimServer, database: LakeDatabase, first: dt.date, last: dt.date
) -> RefreshReport:
    selection = Selection(
        markets=(Market.UM,),
        datasets=("klines",),
        symbols=("BTCUSDT",),
        intervals=(Interval.H1,),
        first_day=first,
        last_day=last,
    )
    async with make_session() as session:
        client = ArchiveClient(session, server.settings())
        return await refresh(client, database, selection, archive_url=server.base_url)


@pytest.mark.asyncio
async def test_reupload_is_a_revision(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    moment = placement.REUPLOADS[REUPLOADED]
    server = make_sim(now=moment - dt.timedelta(days=2))
    database = LakeDatabase(tmp_path)
    first = await _refresh_range(server, database, dt.date(2026, 11, 1), dt.date(2026, 11, 5))
    # One short page per cadence (daily, monthly) for a date range, not the whole history.
    assert first.changes.new == 5 and first.pages == first.prefixes == 2
    old = server.universe.clock.now()
    server.universe.clock.set(moment + dt.timedelta(hours=1))
    second = await _refresh_range(server, database, dt.date(2026, 11, 1), dt.date(2026, 11, 5))
    assert (second.changes.new, second.changes.changed, second.changes.gone) == (0, 1, 0)
    meta_old = Manifest(server.universe).bucket.head(REUPLOADED.key, old)
    meta_new = Manifest(server.universe).bucket.head(REUPLOADED.key, moment + dt.timedelta(hours=1))
    assert meta_old is not None and meta_new is not None
    with database.connect() as c:
        revisions = c.execute(
            "SELECT key, change, old_etag, new_etag, old_size, new_size, new_last_modified FROM file_revisions"
        ).fetchall()
        etag = c.execute("SELECT etag FROM upstream_files WHERE key = ?", [REUPLOADED.key]).fetchall()
    assert revisions == [
        (
            REUPLOADED.key,
            "changed",
            meta_old.etag,
            meta_new.etag,
            meta_old.size,
            meta_new.size,
            moment.astimezone(UTC),
        )
    ]
    assert etag == [(meta_new.etag,)]
    # Other days' keys were listed again and left alone; nothing outside the range was marked gone.
    third = await _refresh_range(server, database, dt.date(2026, 11, 3), dt.date(2026, 11, 4))
    assert third.changes.total == 0 and third.changes.unchanged == 2


def test_a_hung_listing_ends_the_refresh_with_stalled(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    hung = make_sim(faults="stall=1,stall_seconds=60@/data.binance.vision*")
    lake = Lake(settings=dataclasses.replace(hung.settings(tmp_path), stall_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(Stalled, match=rf"no answer from 127\.0\.0\.1:{hung.port} for 1 s"):
        lake.catalog.refresh(markets="um", datasets="fundingRate", exchange_info=False)
    assert time.monotonic() - started < 10
