"""Objects over HTTP: GET/HEAD headers, Range, 404/416, path-style, checksums (reference §1.1, §1.5, §1.6)."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import time
import zipfile
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.sim.archive_app import BUCKET_KEY
from binance_lake.sim.server import SimServer
from tests.sim.simhttp import fetch, list_all

KEY = "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"
_HEADERS = ("Content-Length", "ETag", "Last-Modified", "Accept-Ranges", "Content-Type")


def test_get_and_head_headers_agree(sim_server: SimServer) -> None:
    got = fetch(f"{sim_server.base_url}/{KEY}")
    head = fetch(f"{sim_server.base_url}/{KEY}", method="HEAD")
    assert got.status == head.status == 200 and head.body == b""
    assert {h: got.headers[h] for h in _HEADERS} == {h: head.headers[h] for h in _HEADERS}
    assert int(got.headers["Content-Length"]) == len(got.body)
    assert re.fullmatch(r'"[0-9a-f]{32}"', got.headers["ETag"])
    assert got.headers["Last-Modified"].endswith(" GMT") and got.headers["Content-Type"] == "application/zip"
    assert got.headers["Accept-Ranges"] == "bytes"


def test_zip_has_one_deflated_member_named_after_it(sim_server: SimServer) -> None:
    body = fetch(f"{sim_server.base_url}/{KEY}").body
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["BTCUSDT-1h-2024-01-01.csv"]
        assert infos[0].compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(infos[0]).startswith(b"open_time,open,high,")


def test_listing_size_and_etag_equal_the_object(sim_server: SimServer) -> None:
    from tests.sim.simhttp import S3, list_xml

    root = list_xml(sim_server.settings_env()["BINANCE_LAKE_LISTING_URL"], prefix=KEY)
    contents = root.find(f"{S3}Contents")
    assert contents is not None
    got = fetch(f"{sim_server.base_url}/{KEY}")
    assert contents.findtext(f"{S3}Size") == got.headers["Content-Length"]
    assert contents.findtext(f"{S3}ETag") == got.headers["ETag"]


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=5))
def test_range_pieces_reassemble_the_bytes(sim_server: SimServer, cuts: list[int]) -> None:
    whole = fetch(f"{sim_server.base_url}/{KEY}").body
    points = sorted({c % len(whole) for c in cuts} | {0})
    pieces = []
    for first, nxt in zip(points, [*points[1:], len(whole)], strict=True):
        if nxt <= first:
            continue
        reply = fetch(f"{sim_server.base_url}/{KEY}", headers={"Range": f"bytes={first}-{nxt - 1}"})
        assert reply.status == 206
        assert reply.headers["Content-Range"] == f"bytes {first}-{nxt - 1}/{len(whole)}"
        pieces.append(reply.body)
    assert b"".join(pieces) == whole


def test_open_and_suffix_ranges_and_416(sim_server: SimServer) -> None:
    whole = fetch(f"{sim_server.base_url}/{KEY}").body
    assert fetch(f"{sim_server.base_url}/{KEY}", headers={"Range": "bytes=100-"}).body == whole[100:]
    assert fetch(f"{sim_server.base_url}/{KEY}", headers={"Range": "bytes=-7"}).body == whole[-7:]
    bad = fetch(f"{sim_server.base_url}/{KEY}", headers={"Range": f"bytes={len(whole)}-"})
    assert bad.status == 416 and bad.headers["Content-Range"] == f"bytes */{len(whole)}"


def test_missing_key_is_s3_no_such_key(sim_server: SimServer) -> None:
    reply = fetch(f"{sim_server.base_url}/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2035-01-01.zip")
    assert reply.status == 404
    assert b"<Code>NoSuchKey</Code>" in reply.body and reply.body.startswith(b"<?xml")
    assert (
        fetch(f"{sim_server.base_url}/data/futures/um/daily/klines/BTCUSDT/1h/x.zip", method="HEAD").status
        == 404
    )


def test_path_style_access_serves_the_same_object(sim_server: SimServer) -> None:
    direct = fetch(f"{sim_server.base_url}/{KEY}")
    path_style = fetch(f"{sim_server.base_url}/data.binance.vision/{KEY}")
    assert path_style.body == direct.body and path_style.headers["ETag"] == direct.headers["ETag"]


def test_every_checksum_in_a_directory_verifies(sim_server: SimServer) -> None:
    listing = sim_server.settings_env()["BINANCE_LAKE_LISTING_URL"]
    keys, _, _ = list_all(listing, prefix="data/futures/um/monthly/fundingRate/ETHUSDT/")
    zips = [k for k in keys if k.endswith(".zip")]
    assert len(zips) > 50
    for key in zips:
        data = fetch(f"{sim_server.base_url}/{key}").body
        checksum = fetch(f"{sim_server.base_url}/{key}.CHECKSUM").body
        name = key.rsplit("/", 1)[1]
        assert checksum == f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()
        assert len(checksum) == 64 + 2 + len(name) + 1


def test_same_seed_same_bytes_other_seed_other_bytes(make_sim: object) -> None:
    assert callable(make_sim)
    factory: Callable[..., SimServer] = make_sim
    a, b, c = factory(seed=7), factory(seed=7), factory(seed=8)
    bodies = [fetch(f"{s.base_url}/{KEY}").body for s in (a, b, c)]
    assert bodies[0] == bodies[1] != bodies[2]


def test_a_client_that_disconnects_stops_the_rendering_of_its_listing(
    make_sim: Callable[..., SimServer],
) -> None:
    server = make_sim()
    rendered = server.app[BUCKET_KEY]._bytes.items  # the zips rendered so far (each one is cached)
    # Each 1m daily zip renders in milliseconds; a page of them takes seconds (sizes and ETags need the bytes).
    path = "/data.binance.vision?prefix=data/spot/daily/klines/BTCUSDT/1m/&max-keys=600"
    with socket.create_connection((server.host, server.port)) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        time.sleep(0.3)
    time.sleep(1.0)
    stopped_at = len(rendered)
    time.sleep(0.5)
    assert len(rendered) == stopped_at < 300  # it stopped soon after the client left, not at the page's end
    # The simulator is free at once for the next client.
    started = time.monotonic()
    assert (
        fetch(server.base_url + "/data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip").status == 200
    )
    assert time.monotonic() - started < 1.0
