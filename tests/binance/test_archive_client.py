"""The archive client against a fake S3 + object host on 127.0.0.1: pagination, HEAD, checksums, and
verified resumable downloads under faults (cut bodies, ignored ranges, re-uploads, 429/5xx/404/418/451)."""

from __future__ import annotations

import hashlib
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from binance_lake.binance import archive_client
from binance_lake.binance.archive_client import ArchiveClient, ObjectInfo, etag_path, part_path
from binance_lake.binance.checksum import render_checksum
from binance_lake.binance.http import make_session
from binance_lake.binance.listing import ListingPage
from binance_lake.binance.retry import BreakerState, CircuitBreaker, RetryPolicy
from binance_lake.core.errors import (
    ChecksumMismatch,
    ConnectionFailed,
    IntegrityError,
    IpBanned,
    NotFound,
    Restricted,
    ServerError,
    StorageError,
)
from tests.binance.fake_archive import FakeArchive, FakeTime, Scripted

KEY = "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"
BODY = random.Random(7).randbytes(700_000)  # several chunks of the client's 256 KiB
SHA = hashlib.sha256(BODY).hexdigest()


@dataclass
class Rig:
    fake: FakeArchive
    server: TestServer
    session: aiohttp.ClientSession
    time: FakeTime

    def client(self, **kwargs: Any) -> ArchiveClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=5, base_delay=0.5, jitter=0))
        return ArchiveClient(
            self.session,
            archive_url=str(self.server.make_url("/archive")),
            listing_url=str(self.server.make_url("/listing")),
            sleep=self.time.sleep,
            **kwargs,
        )

    def gets(self, key: str = KEY) -> list[dict[str, str]]:
        return [headers for method, path, headers in self.fake.requests if method == "GET" and path == key]


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    fake = FakeArchive()
    server = TestServer(fake.app(), host="127.0.0.1")
    async with server, make_session() as session:
        yield Rig(fake, server, session, FakeTime())


# -- listing -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_pagination_with_delimiter_follows_next_marker_over_1000_prefixes(rig: Rig) -> None:
    prefix = "data/futures/um/daily/klines/"
    symbols = [f"S{n:04d}USDT" for n in range(1234)]
    for symbol in symbols:
        rig.fake.put(f"{prefix}{symbol}/1h/{symbol}-1h-2024-01-01.zip", b"z")
        rig.fake.put(f"{prefix}{symbol}/1d/{symbol}-1d-2024-01-01.zip", b"z")
    pages = [page async for page in rig.client().iter_listing(prefix)]
    listed = [p for page in pages for p in page.prefixes]
    assert listed == [f"{prefix}{symbol}/" for symbol in symbols]  # each once, in order
    assert len(pages) == 2 and pages[0].next_marker == f"{prefix}{symbols[999]}/"
    markers = [path for method, path, _ in rig.fake.requests]
    assert "marker=" not in markers[0] and "delimiter=%2F" in markers[0]
    assert f"marker=data%2Ffutures%2Fum%2Fdaily%2Fklines%2F{symbols[999]}%2F" in markers[1]


@pytest.mark.asyncio
async def test_list_all_without_delimiter_continues_after_the_last_key(rig: Rig) -> None:
    prefix = "data/spot/daily/trades/"
    keys = sorted(f"{prefix}X{n % 7}USDT/X{n % 7}USDT-trades-{n:05d}.zip" for n in range(2345))
    for key in keys:
        rig.fake.put(key, b"z" * (len(key) % 11))
    objects = await rig.client().list_all(prefix)
    assert [o.key for o in objects] == keys
    assert [o.size for o in objects] == [len(k) % 11 for k in keys]
    paths = [path for _, path, _ in rig.fake.requests]
    assert len(paths) == 3 and all("delimiter" not in p for p in paths)
    assert "marker=" + keys[999].replace("/", "%2F") in paths[1]
    assert "marker=" + keys[1999].replace("/", "%2F") in paths[2]


@pytest.mark.asyncio
async def test_a_marker_that_does_not_advance_is_an_error_not_a_hang(rig: Rig) -> None:
    for n in range(3):
        rig.fake.put(f"data/a/{n}.zip", b"z")

    def stuck(page: ListingPage) -> ListingPage:
        return ListingPage(page.objects, page.prefixes, True, "data/a/0.zip")

    rig.fake.listing_hook = stuck
    with pytest.raises(ServerError, match="does not advance"):
        await rig.client().list_all("data/a/", delimiter="/")
    assert len(rig.fake.requests) == 2


@pytest.mark.asyncio
async def test_a_truncated_empty_page_is_an_error(rig: Rig) -> None:
    rig.fake.listing_hook = lambda page: ListingPage((), (), True)
    with pytest.raises(ServerError, match="does not advance"):
        await rig.client().list_all("data/")
    assert len(rig.fake.requests) == 1


@pytest.mark.asyncio
async def test_a_listing_that_is_not_xml_is_retried_then_a_server_error(rig: Rig) -> None:
    html = Scripted(200, {"Content-Type": "text/html"}, b"<html><body>index</body></html>")
    rig.fake.listing_scripted = [html] * 3
    client = rig.client(retry=RetryPolicy(max_attempts=3, base_delay=1, jitter=0))
    with pytest.raises(ServerError, match="root element is <html>") as caught:
        await client.list_page("data/")
    assert caught.value.url is not None and caught.value.url.startswith(str(rig.server.make_url("/listing")))
    assert len(rig.fake.requests) == 3 and rig.time.sleeps == [1.0, 2.0]


@pytest.mark.asyncio
async def test_listing_page_parses_objects_and_prefixes(rig: Rig) -> None:
    obj = rig.fake.put("data/b/BTCUSDT/x.zip", b"12345")
    rig.fake.put("data/b/BTCUSDT/deeper/y.zip", b"1")
    rig.fake.put("data/b/ETHUSDT/z.zip", b"1")
    page = await rig.client().list_page("data/b/BTCUSDT/")
    assert [(o.key, o.size, o.etag, o.last_modified) for o in page.objects] == [
        ("data/b/BTCUSDT/x.zip", 5, obj.etag, obj.last_modified)
    ]
    assert page.prefixes == ("data/b/BTCUSDT/deeper/",)
    assert not page.is_truncated


# -- HEAD and checksums ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_head_gives_object_info_or_none(rig: Rig) -> None:
    obj = rig.fake.put(KEY, BODY)
    client = rig.client()
    assert await client.head(KEY) == ObjectInfo(KEY, len(BODY), obj.etag, obj.last_modified)
    assert await client.head(KEY.replace("2024-01-01", "2024-01-02")) is None
    assert rig.time.sleeps == []


@pytest.mark.asyncio
async def test_fetch_checksum_parses_the_sidecar(rig: Rig) -> None:
    rig.fake.put(KEY + ".CHECKSUM", render_checksum(SHA, KEY, newline=False))
    assert await rig.client().fetch_checksum(KEY) == SHA


@pytest.mark.asyncio
async def test_a_missing_checksum_is_not_found_and_not_retried(rig: Rig) -> None:
    with pytest.raises(NotFound, match=r"\.CHECKSUM"):
        await rig.client().fetch_checksum(KEY)
    assert len(rig.fake.requests) == 1


@pytest.mark.asyncio
async def test_a_checksum_for_another_file_is_an_integrity_error(rig: Rig) -> None:
    rig.fake.put(KEY + ".CHECKSUM", render_checksum(SHA, "BTCUSDT-1h-2023-12-31.zip"))
    with pytest.raises(IntegrityError, match="another file"):
        await rig.client().fetch_checksum(KEY)
    assert len(rig.fake.requests) == 1


# -- downloads ---------------------------------------------------------------------------------------


def _assert_clean(dest: Path) -> None:
    assert not part_path(dest).exists()
    assert not etag_path(dest).exists()


@pytest.mark.asyncio
async def test_download_writes_the_verified_file(rig: Rig, tmp_path: Path) -> None:
    obj = rig.fake.put(KEY, BODY)
    dest = tmp_path / "raw" / KEY
    seen: list[int] = []
    result = await rig.client().download(
        KEY, dest, expected_sha256=SHA, expected_size=len(BODY), progress=seen.append
    )
    assert dest.read_bytes() == BODY
    assert (result.path, result.size, result.sha256, result.resumed_from) == (dest, len(BODY), SHA, 0)
    assert (result.etag, result.last_modified) == (obj.etag, obj.last_modified)
    assert sum(seen) == len(BODY) and len(seen) >= 3
    assert rig.gets()[0]["Accept-Encoding"] == "identity"
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_an_interrupted_download_resumes_with_range(rig: Rig, tmp_path: Path) -> None:
    obj = rig.fake.put(KEY, BODY)
    rig.fake.cut_after, rig.fake.cuts = 300_001, 1
    dest = tmp_path / "f.zip"
    result = await rig.client().download(KEY, dest, expected_sha256=SHA)
    assert dest.read_bytes() == BODY and result.sha256 == SHA
    assert result.resumed_from == 300_001
    first, second = rig.gets()
    assert "Range" not in first
    assert second["Range"] == "bytes=300001-" and second["If-Range"] == f'"{obj.etag}"'
    assert rig.time.sleeps == [0.5]  # one transient failure, one backoff
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_a_whole_small_download_never_writes_the_etag_sidecar(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Below EAGER_SIDECAR_BYTES the ETag is written only when the body breaks off (the resume test above).
    written: list[Path] = []
    monkeypatch.setattr(archive_client, "_write_sidecar", lambda dest, etag: written.append(dest))
    rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    await rig.client().download(KEY, dest, expected_sha256=SHA)
    assert dest.read_bytes() == BODY and written == []
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_a_big_body_has_its_etag_beside_the_partial_before_it_ends(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a `kill -9` mid-transfer leaves must be resumable: the sidecar is there while bytes arrive.
    monkeypatch.setattr(archive_client, "EAGER_SIDECAR_BYTES", len(BODY) - 1)
    obj = rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    seen: list[tuple[bool, str | None]] = []

    def progress(_: int) -> None:
        sidecar = etag_path(dest)
        seen.append((part_path(dest).exists(), sidecar.read_text().strip() if sidecar.exists() else None))

    await rig.client().download(KEY, dest, expected_sha256=SHA, progress=progress)
    assert seen and all(entry == (True, obj.etag) for entry in seen)
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_a_partial_left_by_an_earlier_run_is_resumed(rig: Rig, tmp_path: Path) -> None:
    obj = rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(BODY[:123_456])
    etag_path(dest).write_text(obj.etag + "\n")
    result = await rig.client().download(KEY, dest, expected_sha256=SHA, expected_size=len(BODY))
    assert dest.read_bytes() == BODY and result.resumed_from == 123_456
    assert rig.gets()[0]["Range"] == "bytes=123456-"


@pytest.mark.asyncio
async def test_a_server_ignoring_range_restarts_cleanly(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.cut_after, rig.fake.cuts, rig.fake.ignore_range = 200_000, 1, True
    dest = tmp_path / "f.zip"
    result = await rig.client().download(KEY, dest, expected_sha256=SHA)
    assert dest.read_bytes() == BODY and result.resumed_from == 0 and result.size == len(BODY)
    assert rig.gets()[1]["Range"] == "bytes=200000-"  # asked, and got a full 200 body instead
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_an_object_replaced_mid_download_restarts_from_zero(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    new_body = BODY[::-1]
    calls: list[str] = []

    def reupload(key: str) -> None:
        calls.append(key)
        if len(calls) == 2:  # Binance replaces files in place (reference §1.7)
            rig.fake.put(KEY, new_body)

    rig.fake.before_body = reupload
    rig.fake.cut_after, rig.fake.cuts = 100_000, 1
    dest = tmp_path / "f.zip"
    new_sha = hashlib.sha256(new_body).hexdigest()
    result = await rig.client().download(KEY, dest, expected_sha256=new_sha)
    assert dest.read_bytes() == new_body and result.resumed_from == 0
    gets = rig.gets()
    assert len(gets) == 3 and "Range" in gets[1] and "Range" not in gets[2]


@pytest.mark.asyncio
async def test_a_partial_longer_than_the_object_starts_over_after_416(rig: Rig, tmp_path: Path) -> None:
    obj = rig.fake.put(KEY, BODY[:1000])
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(BODY[:5000])
    etag_path(dest).write_text(obj.etag)
    result = await rig.client().download(KEY, dest, expected_sha256=hashlib.sha256(BODY[:1000]).hexdigest())
    assert dest.read_bytes() == BODY[:1000] and result.resumed_from == 0
    assert len(rig.gets()) == 2


@pytest.mark.asyncio
async def test_a_partial_without_its_etag_is_not_trusted(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(b"junk from somewhere else")
    result = await rig.client().download(KEY, dest, expected_sha256=SHA)
    assert dest.read_bytes() == BODY and result.resumed_from == 0
    assert "Range" not in rig.gets()[0]


@pytest.mark.asyncio
async def test_checksum_mismatch_raises_and_leaves_nothing(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as caught:
        await rig.client().download(KEY, dest, expected_sha256=wrong)
    assert (caught.value.expected, caught.value.actual) == (wrong, SHA)
    assert KEY in str(caught.value)
    assert not dest.exists()
    _assert_clean(dest)
    assert len(rig.gets()) == 1  # not retried: the same bytes would come back


@pytest.mark.asyncio
async def test_a_size_other_than_listed_is_an_integrity_error(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    dest = tmp_path / "f.zip"
    with pytest.raises(IntegrityError, match="re-uploaded"):
        await rig.client().download(KEY, dest, expected_sha256=SHA, expected_size=len(BODY) - 1)
    assert not dest.exists()
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_without_expected_sha_the_hash_is_reported(rig: Rig, tmp_path: Path) -> None:
    odd_key = "data/option/daily/BVOLIndex/A B+C/A B+C-BVOLIndex-2023-09-25.zip"
    rig.fake.put(odd_key, b"payload")
    result = await rig.client().download(odd_key, tmp_path / "o.zip", expected_sha256=None)
    assert result.sha256 == hashlib.sha256(b"payload").hexdigest()


@pytest.mark.asyncio
async def test_bad_expected_sha_is_refused_before_any_request(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        await rig.client().download(KEY, tmp_path / "f.zip", expected_sha256=SHA.upper())
    assert rig.fake.requests == []


@pytest.mark.asyncio
async def test_a_partial_answer_to_a_full_request_is_a_server_error(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.scripted = [Scripted(206, {"Content-Range": "bytes 5-9/10"}, b"56789")] * 2
    dest = tmp_path / "f.zip"
    with pytest.raises(ServerError, match="without Range"):
        await rig.client(retry=RetryPolicy(max_attempts=1)).download(KEY, dest, expected_sha256=SHA)
    assert not dest.exists()
    _assert_clean(dest)


@pytest.mark.asyncio
async def test_a_local_disk_failure_is_a_storage_error(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot write"):
        await rig.client().download(KEY, tmp_path / "file" / "f.zip", expected_sha256=SHA)
    assert rig.time.sleeps == []


# -- status codes, retries and the breaker ------------------------------------------------------------


@pytest.mark.asyncio
async def test_429_is_retried_after_its_retry_after(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.scripted = [Scripted(429, {"Retry-After": "7"})]
    await rig.client().download(KEY, tmp_path / "f.zip", expected_sha256=SHA)
    assert rig.time.sleeps == [7.0]
    assert len(rig.gets()) == 2


@pytest.mark.asyncio
async def test_5xx_is_retried_with_backoff_then_succeeds(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.scripted = [Scripted(503), Scripted(500), Scripted(502)]
    result = await rig.client().download(KEY, tmp_path / "f.zip", expected_sha256=SHA)
    assert result.sha256 == SHA
    assert rig.time.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_5xx_gives_up_after_max_attempts(rig: Rig) -> None:
    rig.fake.scripted = [Scripted(503)] * 10
    with pytest.raises(ServerError, match="503") as caught:
        await rig.client(retry=RetryPolicy(max_attempts=3, jitter=0)).head(KEY)
    assert caught.value.status == 503
    assert len(rig.fake.requests) == 3


@pytest.mark.asyncio
async def test_404_is_not_retried(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        await rig.client().download(KEY, tmp_path / "f.zip", expected_sha256=SHA)
    assert len(rig.gets()) == 1 and rig.time.sleeps == []


@pytest.mark.parametrize(("status", "kind"), [(418, IpBanned), (451, Restricted)])
@pytest.mark.asyncio
async def test_418_and_451_are_not_retried(
    rig: Rig, tmp_path: Path, status: int, kind: type[Exception]
) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.scripted = [Scripted(status, {"Retry-After": "120"})]
    with pytest.raises(kind):
        await rig.client().download(KEY, tmp_path / "f.zip", expected_sha256=SHA)
    assert len(rig.gets()) == 1 and rig.time.sleeps == []
    assert not (tmp_path / "f.zip").exists()


@pytest.mark.asyncio
async def test_the_breaker_opens_after_repeated_failures_and_pauses(rig: Rig, tmp_path: Path) -> None:
    rig.fake.put(KEY, BODY)
    rig.fake.scripted = [Scripted(503)] * 4
    breaker = CircuitBreaker(threshold=3, cool_down=30, clock=rig.time.clock)
    client = rig.client(retry=RetryPolicy(max_attempts=10, base_delay=1, jitter=0), breaker=breaker)
    result = await client.download(KEY, tmp_path / "f.zip", expected_sha256=SHA)
    assert result.sha256 == SHA
    # Backoffs 1, 2, 4 s; the 3rd failure (t=3) opened the breaker, which held the 4th attempt until t=33.
    # That probe failed (4th 503): open again, 8 s backoff, then 22 s more; the 5th attempt succeeds.
    assert rig.time.sleeps == [1.0, 2.0, 4.0, 26.0, 8.0, 22.0]
    assert breaker.state(f"127.0.0.1:{rig.server.port}") is BreakerState.CLOSED


@pytest.mark.asyncio
async def test_an_unreachable_listing_endpoint_names_the_setting(rig: Rig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ArchiveClient(
        rig.session,
        archive_url=f"http://127.0.0.1:{port}",
        listing_url=f"http://127.0.0.1:{port}/bucket",
        retry=RetryPolicy(max_attempts=2, jitter=0),
        sleep=rig.time.sleep,
    )
    with pytest.raises(ConnectionFailed) as listing:
        await client.list_page("data/")
    assert str(listing.value).startswith(f"cannot reach http://127.0.0.1:{port}/bucket?")
    assert str(listing.value).endswith("connection refused (set BINANCE_LAKE_LISTING_URL to change it)")
    with pytest.raises(ConnectionFailed, match="BINANCE_LAKE_ARCHIVE_URL") as archive:
        await client.head(KEY)
    assert f"http://127.0.0.1:{port}/{KEY}" in str(archive.value)
    assert rig.time.sleeps == [0.5, 0.5]  # each retried once
