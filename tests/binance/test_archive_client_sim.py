"""The archive client against the simulator (`binance_lake.sim`): real listing shapes and pagination,
HEAD, `.CHECKSUM`s, and downloads verified and resumed under the simulator's scripted faults."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from binance_lake.binance.archive_client import ArchiveClient, part_path
from binance_lake.binance.http import make_session
from binance_lake.binance.retry import RetryPolicy
from binance_lake.core.archive import ParsedKey, parse_key
from binance_lake.core.errors import ChecksumMismatch, NotFound
from binance_lake.sim.server import SimServer
from tests.binance.fake_archive import FakeTime

FUNDING = "data/futures/um/monthly/fundingRate/BTCUSDT/"
MONTHLY_1D = "data/futures/um/monthly/klines/BTCUSDT/1d/"


def _client(
    session: aiohttp.ClientSession, server: SimServer, time: FakeTime, attempts: int = 5
) -> ArchiveClient:
    return ArchiveClient(
        session,
        server.settings(),
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.5, jitter=0),
        sleep=time.sleep,
    )


@pytest.mark.asyncio
async def test_listing_the_simulated_bucket(sim_server: SimServer) -> None:
    time = FakeTime()
    async with make_session() as session:
        client = _client(session, sim_server, time)
        directories = [
            p
            async for page in client.iter_listing("data/futures/um/daily/klines/BTCUSDT/")
            for p in page.prefixes
        ]
        everything = await client.list_all(MONTHLY_1D)
        funding = await client.list_all(FUNDING)
        small_pages = [page async for page in client.iter_listing(FUNDING, delimiter=None, max_keys=7)]
    # The empty-name directory of reference §1.4 is a common prefix; the echoed request prefix is not.
    assert "data/futures/um/daily/klines/BTCUSDT//" in directories
    assert "data/futures/um/daily/klines/BTCUSDT/1h/" in directories
    assert "data/futures/um/daily/klines/BTCUSDT/" not in directories
    keys = [o.key for o in everything]
    assert keys == sorted(set(keys)) and len(keys) > 20
    zips = [k for k in keys if k.endswith(".zip")]
    assert set(keys) == set(zips) | {k + ".CHECKSUM" for k in zips}
    assert all(isinstance(parse_key(k), ParsedKey) for k in keys)
    assert [o.key for page in small_pages for o in page.objects] == [o.key for o in funding]
    assert len(small_pages) == -(-len(funding) // 7) > 1
    assert time.sleeps == []


@pytest.mark.asyncio
async def test_head_checksum_and_download_agree_with_the_listing(
    sim_server: SimServer, tmp_path: Path
) -> None:
    time = FakeTime()
    async with make_session() as session:
        client = _client(session, sim_server, time)
        listed = [o for o in await client.list_all(MONTHLY_1D) if o.key.endswith(".zip")][-1]
        info = await client.head(listed.key)
        sha = await client.fetch_checksum(listed.key)
        result = await client.download(
            listed.key, tmp_path / "f.zip", expected_sha256=sha, expected_size=listed.size
        )
        assert await client.head(MONTHLY_1D + "BTCUSDT-1d-1999-01.zip") is None
        with pytest.raises(NotFound):
            await client.fetch_checksum(MONTHLY_1D + "BTCUSDT-1d-1999-01.zip")
    assert info is not None and (info.size, info.etag) == (listed.size, listed.etag)
    assert result.size == listed.size and result.etag == listed.etag
    assert hashlib.sha256((tmp_path / "f.zip").read_bytes()).hexdigest() == sha == result.sha256


@pytest.mark.asyncio
async def test_downloads_survive_truncation_and_503s_and_catch_corruption(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(
        faults="truncate=0.5@*fundingRate-*.zip; first=2@*fundingRate-2026-0*.zip; corrupt=1@*/1d/*.zip"
    )
    time = FakeTime()
    async with make_session() as session:
        client = _client(session, server, time, attempts=20)
        zips = [o for o in await client.list_all(FUNDING) if o.key.endswith(".zip")][-12:]
        resumed = 0
        for n, listed in enumerate(zips):
            sha = await client.fetch_checksum(listed.key)
            dest = tmp_path / f"{n}.zip"
            result = await client.download(listed.key, dest, expected_sha256=sha, expected_size=listed.size)
            resumed += result.resumed_from > 0
            assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
            assert not part_path(dest).exists()
        corrupted = next(o for o in await client.list_all(MONTHLY_1D) if o.key.endswith(".zip"))
        sha = await client.fetch_checksum(corrupted.key)
        with pytest.raises(ChecksumMismatch):
            await client.download(corrupted.key, tmp_path / "bad.zip", expected_sha256=sha)
    assert server.stats.faults["truncate"] > 0 and resumed > 0
    assert server.stats.faults["5xx"] > 0 and 0.5 in time.sleeps
    assert not (tmp_path / "bad.zip").exists() and not part_path(tmp_path / "bad.zip").exists()
