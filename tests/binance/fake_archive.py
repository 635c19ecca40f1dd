"""A small fake of the archive for the client tests: an S3 v1 listing endpoint and an object host with
HEAD, Range and `.CHECKSUM`, plus scriptable faults (status codes, bodies cut short, ranges ignored).

It is deliberately independent of `binance_lake.sim`: the client is tested against this few-line model of
S3, and against the simulator separately when it exists. The XML renderer is shared with the listing
round-trip property test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from aiohttp import web

from binance_lake.binance.listing import S3_NAMESPACE, ListingPage

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _s3_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def render_listing(
    page: ListingPage,
    *,
    prefix: str = "",
    marker: str = "",
    delimiter: str | None = "/",
    max_keys: int = 1000,
    v2: bool = False,
    url_encoded: bool = False,
) -> bytes:
    """S3's XML for a page, in AWS element order (reference §3.3)."""

    def enc(text: str) -> str:
        return escape(quote_plus(text, safe="/") if url_encoded else text)

    parts = [f'<ListBucketResult xmlns="{S3_NAMESPACE}"><Name>data.binance.vision</Name>']
    parts.append(f"<Prefix>{enc(prefix)}</Prefix>")
    if v2:
        if page.next_continuation_token:
            parts.append(
                f"<NextContinuationToken>{escape(page.next_continuation_token)}</NextContinuationToken>"
            )
        parts.append(f"<KeyCount>{len(page.objects) + len(page.prefixes)}</KeyCount>")
    else:
        parts.append(f"<Marker>{enc(marker)}</Marker>")
        if page.next_marker is not None:
            parts.append(f"<NextMarker>{enc(page.next_marker)}</NextMarker>")
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    if delimiter is not None:
        parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    if url_encoded:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{'true' if page.is_truncated else 'false'}</IsTruncated>")
    for obj in page.objects:
        parts.append(
            f"<Contents><Key>{enc(obj.key)}</Key><LastModified>{_s3_time(obj.last_modified)}</LastModified>"
            f"<ETag>&quot;{escape(obj.etag)}&quot;</ETag><Size>{obj.size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for common in page.prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{enc(common)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return (XML_HEAD + "".join(parts)).encode("utf-8")


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeObject:
    body: bytes
    last_modified: dt.datetime

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body).hexdigest()


@dataclass
class Scripted:
    """One canned answer to the next request on a path family."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class FakeArchive:
    """State and faults of the fake. `app()` serves `/listing` (S3 v1) and `/archive/<key>`."""

    objects: dict[str, FakeObject] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    listing_scripted: list[Scripted] = field(default_factory=list)
    cut_after: int | None = None
    """Close the connection after this many body bytes, `cuts` times."""
    cuts: int = 0
    ignore_range: bool = False
    before_body: Callable[[str], None] | None = None
    """Called with the key before each GET body is served (tests change objects mid-download with it)."""
    listing_hook: Callable[[ListingPage], ListingPage] | None = None

    def put(self, key: str, body: bytes, *, when: dt.datetime | None = None) -> FakeObject:
        obj = FakeObject(body, when or dt.datetime(2024, 1, 2, 8, 40, tzinfo=dt.UTC))
        self.objects[key] = obj
        return obj

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/listing", self._listing)
        app.router.add_route("*", "/archive/{key:.*}", self._object)
        return app

    def listing_page(
        self, prefix: str, delimiter: str | None, marker: str | None, max_keys: int
    ) -> ListingPage:
        """S3 v1 semantics: keys and rolled-up common prefixes after `marker`, `max_keys` at most."""
        from binance_lake.binance.listing import ListedObject

        entries: list[ListedObject | str] = []
        seen: set[str] = set()
        for key in sorted(self.objects):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            value = prefix + rest[: cut + len(delimiter)] if delimiter and cut >= 0 else key
            if marker is not None and value <= marker:
                continue
            if value != key:
                if value not in seen:
                    seen.add(value)
                    entries.append(value)
                continue
            obj = self.objects[key]
            entries.append(ListedObject(key, len(obj.body), obj.etag, obj.last_modified))
        page_entries = entries[:max_keys]
        truncated = len(entries) > max_keys
        last = page_entries[-1] if page_entries else None
        last_value = last if isinstance(last, str) else (last.key if last is not None else None)
        return ListingPage(
            objects=tuple(e for e in page_entries if not isinstance(e, str)),
            prefixes=tuple(e for e in page_entries if isinstance(e, str)),
            is_truncated=truncated,
            next_marker=last_value if truncated and delimiter else None,
        )

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        if self.listing_scripted:
            canned = self.listing_scripted.pop(0)
            return web.Response(status=canned.status, headers=canned.headers, body=canned.body)
        query = request.query
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter")
        marker = query.get("marker")
        max_keys = min(1000, int(query.get("max-keys", "1000")))
        page = self.listing_page(prefix, delimiter, marker, max_keys)
        if self.listing_hook is not None:
            page = self.listing_hook(page)
        body = render_listing(
            page, prefix=prefix, marker=marker or "", delimiter=delimiter, max_keys=max_keys
        )
        return web.Response(body=body, content_type="application/xml")

    async def _object(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        self.requests.append((request.method, key, dict(request.headers)))
        if self.scripted:
            canned = self.scripted.pop(0)
            return web.Response(status=canned.status, headers=canned.headers, body=canned.body)
        obj = self.objects.get(key)
        if obj is None:
            body = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>"
            return web.Response(status=404, body=body, content_type="application/xml")
        headers = {
            "ETag": f'"{obj.etag}"',
            "Last-Modified": obj.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            return web.Response(body=obj.body, headers=headers, content_type="application/zip")
        if self.before_body is not None:
            self.before_body(key)
            obj = self.objects[key]
            headers["ETag"] = f'"{obj.etag}"'
        status, body = 200, obj.body
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes=") and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(obj.body):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(obj.body)}"})
            status, body = 206, obj.body[start:]
            headers["Content-Range"] = f"bytes {start}-{len(obj.body) - 1}/{len(obj.body)}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = "application/zip"
        response.content_length = len(body)
        await response.prepare(request)
        if self.cuts > 0 and self.cut_after is not None and self.cut_after < len(body):
            self.cuts -= 1
            await response.write(body[: self.cut_after])
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-body, as a flaky network does
            return response
        await response.write(body)
        await response.write_eof()
        return response
