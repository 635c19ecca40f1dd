"""The archive client: list the bucket, HEAD objects, fetch `.CHECKSUM`s and download zips resumably with
their sha256 verified.

Listing goes to the S3 endpoint (`Settings.listing_url`, v1 ListObjects as the site does, reference §3);
objects come from the download host (`Settings.archive_url`, §1.1). Every request runs under the retry
policy and the per-host circuit breaker of `retry.py`; every aiohttp exception is translated in `http.py`.

A download streams into `<dest>.part`, hashing as it goes, and remembers the object's ETag in
`<dest>.part.etag` (for a body of at most `EAGER_SIDECAR_BYTES`, only once the transfer breaks off: a whole
small file costs one create and one rename, not three creates and two removals). An interrupted download
resumes with `Range` (and `If-Range`), after re-hashing the bytes it already has; if the server ignores the
range or the object changed meanwhile (files are replaced in place, §1.7), it starts over. Only a complete file whose sha256 matches is renamed to `dest`, with one
atomic `os.replace`, so `dest` is never half-written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import aiohttp

from binance_lake.binance.checksum import is_sha256, parse_checksum
from binance_lake.binance.http import (
    as_url,
    host_of,
    parse_http_date,
    raise_for_status,
    read_body,
    translate_errors,
)
from binance_lake.binance.listing import (
    MAX_KEYS,
    ListedObject,
    ListingPage,
    listing_url,
    next_marker,
    parse_listing,
    unquote_etag,
)
from binance_lake.binance.retry import CircuitBreaker, OnRetry, RetryPolicy, Sleep, retrying
from binance_lake.binance.stall import StallWatch
from binance_lake.core.archive import CHECKSUM_SUFFIX, join_url
from binance_lake.core.errors import (
    ChecksumMismatch,
    ConnectionFailed,
    IntegrityError,
    ServerError,
    StorageError,
)
from binance_lake.core.settings import ENV_NAMES, Settings

T = TypeVar("T")

DOWNLOAD_CHUNK = 256 * 1024
LISTING_MAX_BYTES = 16 * 1024 * 1024
"""A 1000-key page is about 300 KB; far more is not a listing page."""
CHECKSUM_BODY_MAX = 64 * 1024
_HASH_CHUNK = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

ARCHIVE_SETTING = ENV_NAMES["archive_url"]
LISTING_SETTING = ENV_NAMES["listing_url"]

Progress = Callable[[int], None]
"""Called with the number of bytes of each chunk received from the network."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD says about an archive object."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime | None


@dataclass(frozen=True)
class DownloadResult:
    """A verified file at `path`. `resumed_from` is how many bytes of an earlier partial were reused."""

    path: Path
    size: int
    sha256: str
    etag: str | None
    last_modified: dt.datetime | None
    resumed_from: int


def part_path(dest: Path) -> Path:
    """Where the download of `dest` accumulates."""
    return dest.with_name(dest.name + ".part")


def etag_path(dest: Path) -> Path:
    """The ETag of the object the `.part` bytes came from; without it a partial cannot be resumed."""
    return dest.with_name(dest.name + ".part.etag")


def _discard_partial(dest: Path) -> None:
    for path in (part_path(dest), etag_path(dest)):
        path.unlink(missing_ok=True)


def _hash_file(path: Path) -> hashlib._Hash:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            hasher.update(block)
    return hasher


def _write_sidecar(dest: Path, etag: str) -> None:
    etag_path(dest).write_text(etag + "\n", encoding="utf-8")


def _stored_etag(dest: Path) -> str | None:
    try:
        return etag_path(dest).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


class _StartOver(Exception):
    """The partial cannot be continued (range ignored or refused, object changed): fetch from byte 0."""


EAGER_SIDECAR_BYTES = 8 * 1024**2
"""Bodies larger than this (or of unknown length) get their `.part.etag` before the first byte, so even a
`kill -9` leaves a resumable partial; smaller ones write it only when the transfer breaks off (a killed
process re-fetches those few megabytes)."""


@dataclass
class _Transfer:
    """One download attempt's running state."""

    url: str
    dest: Path
    offset: int
    hasher: hashlib._Hash
    etag: str | None = None
    last_modified: dt.datetime | None = None
    received: int = 0
    fresh: bool = False  # the body starts at byte 0: `.part` is created, not appended to
    sidecar_pending: bool = False  # the ETag is still to be written beside the `.part` if the body breaks off


class ArchiveClient:
    """Talks to the archive. The session is the caller's (see `http.make_session`) and is not closed here.

    `settings` supplies `archive_url` and `listing_url`; the keyword URLs override it (tests, mirrors).
    `sleep` is what the retry policy and breaker wait with (tests inject a recorder). `stall` tracks every
    request for the stall rule (default: `settings.stall_timeout`); a caller bounds a whole operation with
    `async with client.stall.guard():` (see `binance.stall`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings | None = None,
        *,
        archive_url: str | None = None,
        listing_url: str | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        on_retry: OnRetry | None = None,
        chunk_size: int = DOWNLOAD_CHUNK,
        stall: StallWatch | None = None,
    ) -> None:
        base = settings or Settings()
        self.session = session
        self.archive_url = (archive_url or base.archive_url).rstrip("/")
        self.listing_url = (listing_url or base.listing_url).rstrip("/")
        self.retry = retry or RetryPolicy()
        self.breaker = breaker
        self.sleep = sleep
        self.on_retry = on_retry
        self.chunk_size = chunk_size
        self.stall = stall or StallWatch(base.stall_timeout)

    def object_url(self, key: str) -> str:
        """The download URL of a key (percent-encoded: symbol directories may hold odd names, §1.4)."""
        return join_url(self.archive_url, quote(key, safe="/"))

    async def _call(self, url: str, fn: Callable[[], Awaitable[T]]) -> T:
        host = host_of(url)
        stall = self.stall

        async def answered() -> T:
            try:
                result = await fn()
            except ConnectionFailed:
                raise  # no answer: not a sign of life
            except Exception:
                stall.alive()  # an HTTP error, bad bytes or a full disk: the host did answer
                raise
            stall.alive()
            return result

        stall.begin(host)
        try:
            return await retrying(
                answered,
                self.retry,
                sleep=self.sleep,
                on_retry=self.on_retry,
                breaker=self.breaker,
                host=host,
            )
        finally:
            stall.end(host)

    # -- listing -------------------------------------------------------------------------------------

    async def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        marker: str | None = None,
        max_keys: int = MAX_KEYS,
    ) -> ListingPage:
        """One v1 ListObjects page under `prefix`, starting after `marker`."""
        url = listing_url(self.listing_url, prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)

        async def once() -> ListingPage:
            with translate_errors(url, setting_name=LISTING_SETTING):
                async with self.session.get(as_url(url)) as response:
                    raise_for_status(response, url, setting_name=LISTING_SETTING)
                    body = await read_body(response, url, limit=LISTING_MAX_BYTES)
            # A page cut short parses as malformed XML: a ServerError, so it is retried like a 5xx.
            return parse_listing(body, url=url)

        return await self._call(url, once)

    async def iter_listing(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        max_keys: int = MAX_KEYS,
        start_after: str | None = None,
    ) -> AsyncIterator[ListingPage]:
        """Every page under `prefix` (after `start_after`, when given), following markers until a page is
        not truncated. The caller may stop early by leaving the loop.

        A marker that does not move forward is the server's bug; it raises `ServerError` instead of
        asking for the same page forever.
        """
        marker: str | None = start_after
        while True:
            page = await self.list_page(prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
            yield page
            if not page.is_truncated:
                return
            following = next_marker(page)
            if following is None or (marker is not None and following <= marker):
                url = listing_url(self.listing_url, prefix, delimiter=delimiter, marker=marker)
                raise ServerError(
                    f"the listing at {url} is truncated but its next marker {following!r} does not advance "
                    f"past {marker!r}",
                    url=url,
                )
            marker = following

    async def list_all(self, prefix: str, *, delimiter: str | None = None) -> list[ListedObject]:
        """Every object under `prefix` (with no delimiter: the whole subtree), in key order."""
        objects: list[ListedObject] = []
        async for page in self.iter_listing(prefix, delimiter=delimiter):
            objects.extend(page.objects)
        return objects

    # -- objects -------------------------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and upload time of an object; None when it does not exist (404)."""
        url = self.object_url(key)

        async def once() -> ObjectInfo | None:
            with translate_errors(url, setting_name=ARCHIVE_SETTING):
                async with self.session.head(as_url(url), allow_redirects=True) as response:
                    if response.status == 404:
                        return None
                    raise_for_status(response, url, setting_name=ARCHIVE_SETTING)
                    size = response.content_length
                    if size is None:
                        raise ServerError(f"the HEAD answer for {url} has no Content-Length", url=url)
                    return ObjectInfo(
                        key=key,
                        size=size,
                        etag=unquote_etag(response.headers.get("ETag", "")),
                        last_modified=parse_http_date(response.headers.get("Last-Modified")),
                    )

        return await self._call(url, once)

    async def fetch_checksum(self, file_key: str) -> str:
        """The published sha256 of a zip, from its `.CHECKSUM`. A missing sidecar is `NotFound` (#469)."""
        checksum_key = file_key if file_key.endswith(CHECKSUM_SUFFIX) else file_key + CHECKSUM_SUFFIX
        url = self.object_url(checksum_key)

        async def once() -> bytes:
            with translate_errors(url, setting_name=ARCHIVE_SETTING):
                async with self.session.get(as_url(url)) as response:
                    raise_for_status(response, url, setting_name=ARCHIVE_SETTING)
                    return await read_body(response, url, limit=CHECKSUM_BODY_MAX)

        body = await self._call(url, once)
        try:
            return parse_checksum(body, checksum_key.removesuffix(CHECKSUM_SUFFIX))
        except IntegrityError as error:
            # Which bytes were unreadable: the same ones again are upstream's, other ones damage in transit.
            error.fingerprint = f".CHECKSUM sha256={hashlib.sha256(body).hexdigest()} size={len(body)}"
            raise

    async def download(
        self,
        key: str,
        dest: Path,
        *,
        expected_sha256: str | None,
        expected_size: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Download `key` to `dest`, resuming a `.part` left by an earlier attempt, and verify it.

        Raises `ChecksumMismatch` (the partial is deleted so the next attempt starts clean),
        `IntegrityError` when the size differs from `expected_size`, and `StorageError` when the local disk
        fails; transient failures are retried and keep the partial. `dest` appears only complete and
        verified. Do not run two downloads to the same `dest` at once: they share the `.part`.
        """
        if expected_sha256 is not None and not is_sha256(expected_sha256):
            raise ValueError(f"expected_sha256 must be 64 lowercase hex digits, not {expected_sha256!r}")
        url = self.object_url(key)

        async def attempt() -> DownloadResult:
            try:
                return await self._download_once(url, dest, expected_sha256, expected_size, progress)
            except _StartOver:
                _discard_partial(dest)
            try:
                return await self._download_once(url, dest, expected_sha256, expected_size, progress)
            except _StartOver:
                raise ServerError(
                    f"{url} answered a request without Range with a partial body", url=url
                ) from None

        async def once() -> DownloadResult:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                return await attempt()
            except OSError as error:
                # Network OSErrors were translated inside; what is left is our own disk.
                raise StorageError(f"cannot write {dest}: {error.strerror or error}") from error

        return await self._call(url, once)

    async def _resume_point(self, dest: Path, expected_size: int | None) -> tuple[int, hashlib._Hash]:
        part = part_path(dest)
        if not part.exists():
            return 0, hashlib.sha256()
        size = part.stat().st_size
        if _stored_etag(dest) is None or size == 0 or (expected_size is not None and size >= expected_size):
            # No ETag: we cannot tell whether the object changed. Full size: a crash between the last byte
            # and the rename; re-fetching is simpler than a range the server would refuse with 416.
            _discard_partial(dest)
            return 0, hashlib.sha256()
        # Hashing a multi-GB partial would stall every other transfer on the event loop.
        return size, await asyncio.to_thread(_hash_file, part)

    async def _download_once(
        self,
        url: str,
        dest: Path,
        expected_sha256: str | None,
        expected_size: int | None,
        progress: Progress | None,
    ) -> DownloadResult:
        offset, hasher = await self._resume_point(dest, expected_size)
        stored_etag = _stored_etag(dest) if offset else None
        headers = {"Accept-Encoding": "identity"}  # the hash is over the bytes as stored, never re-encoded
        if offset:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = f'"{stored_etag}"'
        transfer = _Transfer(url=url, dest=dest, offset=offset, hasher=hasher)
        with translate_errors(url, setting_name=ARCHIVE_SETTING):
            async with self.session.get(as_url(url), headers=headers) as response:
                if offset and response.status == 416:
                    raise _StartOver
                raise_for_status(response, url, setting_name=ARCHIVE_SETTING)
                transfer.etag = unquote_etag(response.headers.get("ETag", "")) or None
                transfer.last_modified = parse_http_date(response.headers.get("Last-Modified"))
                total = self._check_start(response, transfer, stored_etag, expected_size)
                await self._stream(response, transfer, progress)
        size = transfer.offset + transfer.received
        if total is not None and size < total:
            raise ConnectionFailed(f"the body of {url} ended after {size} of {total} bytes", url=url)
        return self._finish(transfer, size, expected_sha256, expected_size)

    def _check_start(
        self,
        response: aiohttp.ClientResponse,
        transfer: _Transfer,
        stored_etag: str | None,
        expected_size: int | None,
    ) -> int | None:
        """Validate where the body starts; set up the `.part` for a fresh body. Returns the full size."""
        url, dest = transfer.url, transfer.dest
        length = response.content_length
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if (
                not transfer.offset
                or match is None
                or int(match.group(1)) != transfer.offset
                or (transfer.etag is not None and transfer.etag != stored_etag)
            ):
                raise _StartOver
            total = int(match.group(3)) if match.group(3) != "*" else None
        else:
            # A full body: the server ignored the range (or If-Range said the object changed). Start over.
            if transfer.offset:
                _discard_partial(dest)
            transfer.offset = 0
            transfer.hasher = hashlib.sha256()
            transfer.fresh = True
            total = length
            if transfer.etag is not None:
                if total is None or total > EAGER_SIDECAR_BYTES:
                    _write_sidecar(dest, transfer.etag)
                else:
                    transfer.sidecar_pending = True
        if expected_size is not None and total is not None and total != expected_size:
            _discard_partial(dest)
            raise IntegrityError(
                f"{url} is {total} bytes but {expected_size} were expected; it may have been re-uploaded"
            )
        return total

    async def _stream(
        self, response: aiohttp.ClientResponse, transfer: _Transfer, progress: Progress | None
    ) -> None:
        # A fresh body truncates whatever `.part` an earlier attempt left. A stale sidecar can outlive it only
        # if a process died between writing an eager sidecar and creating the `.part`; a resume from it sends
        # that old ETag in If-Range, so a changed object comes back whole, and the sha256 decides anyway.
        with part_path(transfer.dest).open("wb" if transfer.fresh else "ab") as handle:
            try:
                async for chunk in response.content.iter_chunked(self.chunk_size):
                    handle.write(chunk)
                    transfer.hasher.update(chunk)
                    transfer.received += len(chunk)
                    self.stall.alive()
                    if progress is not None:
                        progress(len(chunk))
            except BaseException:
                # The body broke off (reset, stall, cancel): what arrived stays resumable.
                if transfer.sidecar_pending and transfer.etag is not None and transfer.received:
                    handle.flush()
                    _write_sidecar(transfer.dest, transfer.etag)
                raise

    def _finish(
        self, transfer: _Transfer, size: int, expected_sha256: str | None, expected_size: int | None
    ) -> DownloadResult:
        url, dest = transfer.url, transfer.dest
        if expected_size is not None and size != expected_size:
            _discard_partial(dest)
            raise IntegrityError(f"{url} gave {size} bytes but {expected_size} were expected")
        digest = transfer.hasher.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            _discard_partial(dest)
            raise ChecksumMismatch(
                f"the sha256 of {url} is {digest}, but its .CHECKSUM says {expected_sha256}",
                expected=expected_sha256,
                actual=digest,
                size=size,
                etag=transfer.etag,
            )
        part_path(dest).replace(dest)  # os.replace: atomic, so `dest` is whole or absent
        etag_path(dest).unlink(missing_ok=True)
        return DownloadResult(
            path=dest,
            size=size,
            sha256=digest,
            etag=transfer.etag,
            last_modified=transfer.last_modified,
            resumed_from=transfer.offset,
        )
