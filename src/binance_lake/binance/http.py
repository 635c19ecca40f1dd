"""The HTTP edge: one shared aiohttp session, and the one place aiohttp's exceptions and HTTP status codes
become binance-lake errors.

Everything above this module sees `core.errors` only. Messages are one sentence that names the URL; when
the caller says which setting chose the endpoint, an unreachable endpoint says how to change it.
Status codes follow reference §4.1: 404 NotFound, 429 RateLimited (with `Retry-After`), 418 IpBanned,
451 Restricted, anything else unexpected (403 WAF, 5xx) ServerError.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import errno
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from importlib import metadata

import aiohttp
from yarl import URL

from binance_lake.core.errors import (
    BinanceLakeError,
    ConnectionFailed,
    IpBanned,
    NotFound,
    RateLimited,
    Restricted,
    ServerError,
    SourceError,
    UsageError,
)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=60.0)
"""No limit on a whole transfer (monthly trades zips take minutes); 10 s to connect, 60 s of silence."""


def _version() -> str:
    try:
        return metadata.version("binance-lake")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


USER_AGENT = f"binance-lake/{_version()}"


def make_session(*, limit: int = 64, timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientSession:
    """The connection pool every archive and REST request shares. Call it inside the running event loop,
    and close it (`async with make_session() as session:`)."""
    connector = aiohttp.TCPConnector(limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout or DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
    )


def as_url(url: str) -> URL:
    """A URL aiohttp sends exactly as written: our URLs are already percent-encoded (see `listing_url`)."""
    return URL(url, encoded=True)


def host_of(url: str) -> str:
    """`host:port` of a URL: the unit a circuit breaker tracks."""
    parsed = URL(url)
    return f"{parsed.host}:{parsed.port}"


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def parse_http_date(value: str | None) -> dt.datetime | None:
    """A `Last-Modified` header (RFC 1123) as an aware UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _hint(setting_name: str | None) -> str:
    return f" (set {setting_name} to change it)" if setting_name else ""


def _reason(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def error_for_status(
    status: int, url: str, headers: Mapping[str, str], *, setting_name: str | None = None
) -> SourceError | None:
    """The error an HTTP status means, or None for 2xx. Pure, so it is easy to test exhaustively."""
    if 200 <= status < 300:
        return None
    if status == 404:
        return NotFound(f"{url} does not exist (HTTP 404)", url=url, status=404)
    if status == 429:
        wait = parse_retry_after(headers.get("Retry-After"))
        after = f"; retry after {wait:g} s" if wait is not None else ""
        return RateLimited(f"{url} answered 429 Too Many Requests{after}", url=url, retry_after=wait)
    if status == 418:
        wait = parse_retry_after(headers.get("Retry-After"))
        until = f" for {wait:g} s" if wait is not None else ""
        return IpBanned(
            f"{url} answered 418: Binance banned this IP{until} after too many requests; do not retry sooner",
            url=url,
            retry_after=wait,
        )
    if status == 451:
        return Restricted(
            f"{url} answered 451: the service refuses requests from this location; use a mirror{_hint(setting_name)}",
            url=url,
            status=451,
        )
    return ServerError(f"{url} answered HTTP {_reason(status)}", url=url, status=status)


def raise_for_status(response: aiohttp.ClientResponse, url: str, *, setting_name: str | None = None) -> None:
    """Raise the binance-lake error for a non-2xx response."""
    error = error_for_status(response.status, url, response.headers, setting_name=setting_name)
    if error is not None:
        raise error


def _connect_reason(error: aiohttp.ClientConnectorError) -> str:
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientConnectorSSLError):
        return "TLS handshake failed"
    code = error.os_error.errno
    if isinstance(error.os_error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return "connection refused"
    return os.strerror(code).lower() if code else str(error.os_error) or "connection failed"


@contextmanager
def translate_errors(url: str, *, setting_name: str | None = None) -> Iterator[None]:
    """Turn aiohttp and timeout exceptions raised inside the block into `ConnectionFailed` naming `url`.

    `setting_name` (e.g. `BINANCE_LAKE_LISTING_URL`) is named when the endpoint cannot be reached at all.
    """
    try:
        yield
    except BinanceLakeError:
        raise
    except aiohttp.InvalidURL as error:
        raise UsageError(f"{url} is not a valid URL{_hint(setting_name)}") from error
    except aiohttp.ClientConnectorError as error:
        reason = _connect_reason(error)
        raise ConnectionFailed(f"cannot reach {url}: {reason}{_hint(setting_name)}", url=url) from error
    except aiohttp.ConnectionTimeoutError as error:
        raise ConnectionFailed(
            f"cannot reach {url}: connect timed out{_hint(setting_name)}", url=url
        ) from error
    except aiohttp.ServerDisconnectedError as error:
        raise ConnectionFailed(f"the server closed the connection while answering {url}", url=url) from error
    except aiohttp.ClientPayloadError as error:
        raise ConnectionFailed(f"the body of {url} ended early or was malformed", url=url) from error
    except TimeoutError as error:
        raise ConnectionFailed(f"{url} timed out waiting for data", url=url) from error
    except aiohttp.ClientConnectionError as error:
        raise ConnectionFailed(
            f"the connection to {url} failed: {error or type(error).__name__}", url=url
        ) from error
    except aiohttp.ClientError as error:
        raise ServerError(f"{url} answered unexpectedly: {error or type(error).__name__}", url=url) from error


async def read_body(response: aiohttp.ClientResponse, url: str, *, limit: int) -> bytes:
    """The whole body of a small response (listing page, checksum), refusing more than `limit` bytes.

    Call it inside `translate_errors`: a body cut short raises aiohttp's payload error."""
    if response.content_length is not None and response.content_length > limit:
        raise ServerError(f"the answer from {url} is {response.content_length} bytes, over {limit}", url=url)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise ServerError(f"the answer from {url} is larger than the {limit} bytes expected", url=url)
        chunks.append(chunk)
    return b"".join(chunks)
