"""The archive side of the simulator as aiohttp routes: objects (GET/HEAD, Range) and S3 listings.

Objects are served at `/data/...` (like https://data.binance.vision/data/...) and path-style under
`/data.binance.vision/...`; the listing answers at `/data.binance.vision?prefix=...` (reference §1.1, §3).
Headers mirror S3/CloudFront: quoted ETag, RFC 1123 Last-Modified, Accept-Ranges, `application/zip`;
`.CHECKSUM` objects are served as `binary/octet-stream` (S3's default; the real type is unknown, §7).

Rendering (a listing page's metadata, an object's zip) runs in worker threads, never on the event loop, and
stops when its client disconnects (the server cancels the handler, see `SimServer`): a client that gave up
must not leave the server busy with answers nobody reads, delaying everyone else.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import threading
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from binance_lake.core.errors import UsageError
from binance_lake.sim.bucket import Bucket, ObjectMeta
from binance_lake.sim.listing import MAX_KEYS, ListRequest, decode_token, list_page, render_xml

T = TypeVar("T")

BUCKET_KEY: web.AppKey[Bucket] = web.AppKey("bucket", Bucket)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_XML = "application/xml"


def _error(status: int, code: str, message: str, resource: str = "") -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        + (f"<Key>{resource}</Key>" if resource else "")
        + "<RequestId>SIMULATOR</RequestId></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type=_XML)


def object_headers(meta: ObjectMeta) -> dict[str, str]:
    kind = "binary/octet-stream" if meta.key.endswith(".CHECKSUM") else "application/zip"
    if not meta.key.endswith((".zip", ".CHECKSUM")):
        kind = "text/html" if meta.key.endswith(".html") else "binary/octet-stream"
    return {
        "Content-Type": kind,
        "ETag": f'"{meta.etag}"',
        "Last-Modified": email.utils.format_datetime(meta.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "Server": "AmazonS3",
        "X-Cache": "Miss from cloudfront",
    }


def _byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive, None for a header we ignore, "unsatisfiable" for a 416."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        length = int(last_text)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)


async def off_loop(work: Callable[[Callable[[], bool]], T]) -> T:
    """Run `work(abandoned)` in a worker thread. When the awaiting handler is cancelled (its client went
    away), `abandoned()` turns True so the work can stop early; work not yet started never starts."""
    stop = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(None, work, stop.is_set)
    try:
        return await future
    except asyncio.CancelledError:
        stop.set()
        raise


async def serve_object(request: web.Request, key: str) -> web.StreamResponse:
    bucket = request.app[BUCKET_KEY]
    now = bucket.universe.clock.now()
    if request.method == "HEAD":
        meta = await off_loop(lambda _: bucket.head(key, now))
        if meta is None:
            return web.Response(status=404, content_type=_XML)
        # A bare StreamResponse keeps our Content-Length; aiohttp sends no body for HEAD.
        response = web.StreamResponse(status=200, headers=object_headers(meta))
        response.content_length = meta.size
        return response
    found = await off_loop(lambda _: bucket.get(key, now))
    if found is None:
        return _error(404, "NoSuchKey", "The specified key does not exist.", key)
    meta, data = found
    headers = object_headers(meta)
    wanted = request.headers.get("Range")
    if wanted:
        piece = _byte_range(wanted, len(data))
        if piece == "unsatisfiable":
            response = _error(416, "InvalidRange", "The requested range is not satisfiable")
            response.headers["Content-Range"] = f"bytes */{len(data)}"
            return response
        if isinstance(piece, tuple):
            first, last = piece
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            return web.Response(status=206, body=data[first : last + 1], headers=headers)
    return web.Response(status=200, body=data, headers=headers)


async def data_object(request: web.Request) -> web.StreamResponse:
    return await serve_object(request, "data/" + request.match_info["tail"])


async def path_style_object(request: web.Request) -> web.StreamResponse:
    return await serve_object(request, request.match_info["key"])


async def root_object(request: web.Request) -> web.StreamResponse:
    return await serve_object(request, request.path.lstrip("/"))


def parse_list_request(query: dict[str, str]) -> ListRequest:
    text = query.get("max-keys", str(MAX_KEYS))
    try:
        max_keys = int(text)
    except ValueError:
        raise UsageError(f"max-keys {text!r} is not an integer") from None
    if max_keys < 0:
        raise UsageError("max-keys must not be negative")
    v2 = query.get("list-type") == "2"
    token = query.get("continuation-token") if v2 else None
    start_after = query.get("start-after") if v2 else None
    v1_marker = query.get("marker", "")
    marker = max(start_after or "", decode_token(token) if token else "") if v2 else v1_marker
    return ListRequest(
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter") or None,
        marker=marker,
        max_keys=min(max_keys, MAX_KEYS),
        v2=v2,
        continuation_token=token,
        start_after=start_after,
        url_encoding=query.get("encoding-type") == "url",
    )


async def listing(request: web.Request) -> web.Response:
    bucket = request.app[BUCKET_KEY]
    try:
        wanted = parse_list_request(dict(request.query))
    except UsageError as error:
        return _error(400, "InvalidArgument", str(error))
    now = bucket.universe.clock.now()
    # Abandoned (raised when the client left) ends in a future nobody awaits any more: the handler is gone.
    page = await off_loop(lambda abandoned: list_page(bucket, wanted, now, abandoned=abandoned))
    return web.Response(body=render_xml(wanted, page), content_type=_XML)


def add_archive_routes(app: web.Application, bucket: Bucket) -> None:
    app[BUCKET_KEY] = bucket
    router = app.router
    router.add_get("/data.binance.vision", listing)
    router.add_get("/data.binance.vision/", listing)
    router.add_get("/data.binance.vision/{key:.+}", path_style_object)  # GET routes answer HEAD too
    router.add_get("/data/{tail:.*}", data_object)
    router.add_get("/index.html", root_object)
    router.add_get("/favicon.ico", root_object)
    router.add_get("/updates/{tail:.*}", root_object)
