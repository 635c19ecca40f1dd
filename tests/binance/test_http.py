"""The HTTP edge: status codes and aiohttp exceptions become binance-lake errors whose one-sentence
message names the URL (and the setting, when an endpoint cannot be reached)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from binance_lake.binance.http import (
    USER_AGENT,
    error_for_status,
    host_of,
    make_session,
    parse_http_date,
    parse_retry_after,
    raise_for_status,
    read_body,
    translate_errors,
)
from binance_lake.core.errors import (
    ConnectionFailed,
    IpBanned,
    NotFound,
    RateLimited,
    Restricted,
    ServerError,
    UsageError,
    is_transient,
)

URL = "http://127.0.0.1:1/data/x.zip"


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (404, NotFound, False),
        (429, RateLimited, True),
        (418, IpBanned, False),
        (451, Restricted, False),
        (403, ServerError, True),
        (500, ServerError, True),
        (503, ServerError, True),
        (400, ServerError, True),
        (599, ServerError, True),
    ],
)
def test_status_codes_map_to_the_error_tree(status: int, kind: type[Exception], transient: bool) -> None:
    error = error_for_status(status, URL, {})
    assert type(error) is kind
    assert error is not None and error.status == status and error.url == URL
    assert URL in str(error)
    assert is_transient(error) == transient


@pytest.mark.parametrize("status", [200, 204, 206])
def test_success_is_not_an_error(status: int) -> None:
    assert error_for_status(status, URL, {}) is None


def test_429_and_418_carry_retry_after() -> None:
    limited = error_for_status(429, URL, {"Retry-After": "7"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 7
    assert "retry after 7 s" in str(limited)
    banned = error_for_status(418, URL, {"Retry-After": "120"})
    assert isinstance(banned, IpBanned) and banned.retry_after == 120
    assert isinstance(error_for_status(429, URL, {}), RateLimited)


def test_451_names_the_setting_to_use_a_mirror() -> None:
    error = error_for_status(451, URL, {}, setting_name="BINANCE_LAKE_ARCHIVE_URL")
    assert "BINANCE_LAKE_ARCHIVE_URL" in str(error)


def test_retry_after_forms() -> None:
    now = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-4") == 0
    assert parse_retry_after("Mon, 01 Jan 2024 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_http_dates_are_utc() -> None:
    assert parse_http_date("Mon, 21 Mar 2022 08:58:02 GMT") == dt.datetime(
        2022, 3, 21, 8, 58, 2, tzinfo=dt.UTC
    )
    assert parse_http_date("garbage") is None
    assert parse_http_date(None) is None


def test_host_of_includes_the_port() -> None:
    assert host_of("https://data.binance.vision/data/x") == "data.binance.vision:443"
    assert host_of("http://127.0.0.1:8123/listing?x=1") == "127.0.0.1:8123"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.asyncio
async def test_connection_refused_names_the_url_and_the_setting() -> None:
    url = f"http://127.0.0.1:{_free_port()}/listing?prefix=data/"
    async with make_session() as session:
        with (
            pytest.raises(ConnectionFailed) as caught,
            translate_errors(url, setting_name="BINANCE_LAKE_LISTING_URL"),
        ):
            async with session.get(url):
                pass
    message = str(caught.value)
    assert message == f"cannot reach {url}: connection refused (set BINANCE_LAKE_LISTING_URL to change it)"
    assert caught.value.url == url
    assert is_transient(caught.value)


@pytest.mark.asyncio
async def test_an_invalid_url_is_a_usage_error() -> None:
    async with make_session() as session:
        with (
            pytest.raises(UsageError, match="BINANCE_LAKE_ARCHIVE_URL"),
            translate_errors("nonsense", setting_name="BINANCE_LAKE_ARCHIVE_URL"),
        ):
            async with session.get("nonsense"):
                pass


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(dict(request.headers))


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def _short(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b"x" * 10)
    assert request.transport is not None
    request.transport.close()
    return response


async def _hangup(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b"y" * 5000, status=int(request.query.get("status", "200")))


@pytest_asyncio.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    for path, handler in {"/echo": _echo, "/slow": _slow, "/short": _short, "/hangup": _hangup}.items():
        app.router.add_get(path, handler)
    app.router.add_get("/big", _big)
    test_server = TestServer(app, host="127.0.0.1")
    async with test_server:
        yield test_server


@pytest.mark.asyncio
async def test_session_sends_the_user_agent(server: TestServer) -> None:
    assert USER_AGENT.startswith("binance-lake/")
    async with make_session(limit=2) as session, session.get(server.make_url("/echo")) as response:
        headers = await response.json()
    assert headers["User-Agent"] == USER_AGENT


@pytest.mark.asyncio
async def test_a_body_cut_short_is_connection_failed(server: TestServer) -> None:
    url = str(server.make_url("/short"))
    async with make_session() as session:
        with pytest.raises(ConnectionFailed, match="ended early") as caught, translate_errors(url):
            async with session.get(url) as response:
                await read_body(response, url, limit=10_000)
    assert url in str(caught.value)


@pytest.mark.asyncio
async def test_a_server_hanging_up_is_connection_failed(server: TestServer) -> None:
    url = str(server.make_url("/hangup"))
    async with make_session() as session:
        with pytest.raises(ConnectionFailed, match="closed the connection") as caught, translate_errors(url):
            async with session.get(url):
                pass
    assert url in str(caught.value)


@pytest.mark.asyncio
async def test_silence_times_out_as_connection_failed(server: TestServer) -> None:
    url = str(server.make_url("/slow"))
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    async with make_session(timeout=timeout) as session:
        with pytest.raises(ConnectionFailed, match="timed out") as caught, translate_errors(url):
            async with session.get(url) as response:
                await response.read()
    assert url in str(caught.value)


@pytest.mark.asyncio
async def test_read_body_refuses_more_than_the_limit(server: TestServer) -> None:
    url = str(server.make_url("/big"))
    async with make_session() as session:
        async with session.get(url) as response:
            assert len(await read_body(response, url, limit=5000)) == 5000
        with pytest.raises(ServerError, match="5000 bytes"):
            async with session.get(url) as response:
                await read_body(response, url, limit=4999)


@pytest.mark.asyncio
async def test_raise_for_status_reads_the_response(server: TestServer) -> None:
    url = str(server.make_url("/big?status=503"))
    async with make_session() as session, session.get(url) as response:
        with pytest.raises(ServerError, match="503 Service Unavailable") as caught:
            raise_for_status(response, url)
    assert caught.value.status == 503
