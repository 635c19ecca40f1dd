"""S3 ListObjects v1/v2 over HTTP: pagination, common prefixes, markers, XML shape (reference §3)."""

from __future__ import annotations

import pytest

from binance_lake.sim.server import SimServer
from tests.sim.simhttp import S3, fetch, list_all, list_xml, page_items, text

DAILY_1D = "data/futures/um/daily/klines/BTCUSDT/1d/"


def _listing(server: SimServer) -> str:
    return server.settings_env()["BINANCE_LAKE_LISTING_URL"]


def test_pagination_without_delimiter_visits_every_key_once(sim_server: SimServer) -> None:
    keys, prefixes, pages = list_all(_listing(sim_server), prefix=DAILY_1D)
    assert pages >= 3 and not prefixes
    assert len(keys) == len(set(keys)) and keys == sorted(keys)
    zips = [k for k in keys if k.endswith(".zip")]
    assert len(keys) == 2 * len(zips)  # every zip has its .CHECKSUM right after it
    assert all(k.startswith(DAILY_1D) for k in keys)


def test_v1_with_delimiter_and_v2_agree_with_plain_v1(sim_server: SimServer) -> None:
    plain, _, _ = list_all(_listing(sim_server), prefix=DAILY_1D)
    delimited, prefixes, _ = list_all(_listing(sim_server), prefix=DAILY_1D, delimiter="/")
    v2, _, _ = list_all(_listing(sim_server), v2=True, prefix=DAILY_1D, max_keys=700)
    assert plain == delimited == v2 and not prefixes


def test_small_pages_and_start_after(sim_server: SimServer) -> None:
    url = _listing(sim_server)
    everything, _, _ = list_all(url, prefix="data/futures/um/monthly/fundingRate/BTCUSDT/")
    small, _, pages = list_all(url, prefix="data/futures/um/monthly/fundingRate/BTCUSDT/", max_keys=7)
    assert small == everything and pages == -(-len(everything) // 7)
    root = list_xml(
        url, list_type=2, prefix="data/futures/um/monthly/fundingRate/BTCUSDT/", start_after=everything[9]
    )
    assert page_items(root)[0] == everything[10:]
    assert text(root, "KeyCount") == str(len(everything) - 10)


def test_common_prefixes_and_empty_name_directory(sim_server: SimServer) -> None:
    root = list_xml(_listing(sim_server), prefix="data/futures/um/daily/klines/BTCUSDT/", delimiter="/")
    keys, prefixes = page_items(root)
    assert not keys
    assert prefixes[0] == "data/futures/um/daily/klines/BTCUSDT//"
    assert (
        "data/futures/um/daily/klines/BTCUSDT/1h/" in prefixes
        and "data/futures/um/daily/klines/BTCUSDT/1s/" not in prefixes
    )
    assert prefixes == sorted(prefixes)
    # The first <Prefix> is the echoed request prefix, not a child (the trap of reference §3.3).
    assert text(root, "Prefix") == "data/futures/um/daily/klines/BTCUSDT/"


def test_xml_shape_matches_the_capture(sim_server: SimServer) -> None:
    reply = fetch(
        _listing(sim_server) + "?prefix=data/futures/um/daily/klines/BTCUSDT/1h/&max-keys=2&delimiter=/"
    )
    head, body = reply.body.split(b"\n", 1)
    assert head == b'<?xml version="1.0" encoding="UTF-8"?>'
    assert b"\n" not in body and b" " not in body.replace(b'<ListBucketResult xmlns="', b"")
    text_body = body.decode()
    order = [
        "<Name>",
        "<Prefix>",
        "<Marker>",
        "<NextMarker>",
        "<MaxKeys>",
        "<Delimiter>",
        "<IsTruncated>",
        "<Contents>",
    ]
    positions = [text_body.index(tag) for tag in order]
    assert positions == sorted(positions)
    assert "<ETag>&quot;" in text_body and "<StorageClass>STANDARD</StorageClass>" in text_body
    contents = text_body.split("<Contents>")[1]
    assert (
        contents.index("<Key>")
        < contents.index("<LastModified>")
        < contents.index("<ETag>")
        < contents.index("<Size>")
    )
    assert ".000Z</LastModified>" in contents


def test_next_marker_only_with_delimiter(sim_server: SimServer) -> None:
    url = _listing(sim_server)
    without = list_xml(url, prefix=DAILY_1D, max_keys=3)
    assert text(without, "IsTruncated") == "true" and text(without, "NextMarker") is None
    with_delimiter = list_xml(url, prefix=DAILY_1D, max_keys=3, delimiter="/")
    assert text(with_delimiter, "NextMarker") == page_items(with_delimiter)[0][-1]


def test_root_lists_data_and_non_dataset_keys(sim_server: SimServer) -> None:
    keys, prefixes, _ = list_all(_listing(sim_server), delimiter="/")
    assert prefixes == ["data/", "updates/"]
    assert keys == ["favicon.ico", "index.html"]


def test_bad_max_keys_is_an_s3_error(sim_server: SimServer) -> None:
    reply = fetch(_listing(sim_server) + "?max-keys=abc")
    assert reply.status == 400 and b"<Code>InvalidArgument</Code>" in reply.body


def test_url_encoding(sim_server: SimServer) -> None:
    root = list_xml(
        _listing(sim_server),
        prefix="data/futures/um/daily/klines/BTCUSDT/",
        delimiter="/",
        encoding_type="url",
    )
    assert text(root, "EncodingType") == "url"
    assert page_items(root)[1][0] == "data/futures/um/daily/klines/BTCUSDT//"


@pytest.fixture(scope="module")
def large_server() -> SimServer:
    from binance_lake.sim.universe import Universe

    server = SimServer(Universe.build("large")).start()
    yield server  # type: ignore[misc]
    server.stop()


def test_large_universe_has_more_than_1000_symbol_prefixes(large_server: SimServer) -> None:
    url = _listing(large_server)
    keys, prefixes, pages = list_all(url, prefix="data/futures/um/daily/klines/", delimiter="/")
    assert not keys and pages == 2 and len(prefixes) == len(set(prefixes)) > 1000
    v2_keys, v2_prefixes, _ = list_all(url, v2=True, prefix="data/futures/um/daily/klines/", delimiter="/")
    assert v2_prefixes == prefixes and not v2_keys


def test_large_universe_deep_listing_is_lazy(large_server: SimServer) -> None:
    url = _listing(large_server)
    root = list_xml(
        url, prefix="data/futures/um/daily/klines/", marker="data/futures/um/daily/klines/LUVEXKOUSDT/1h/"
    )
    keys, _ = page_items(root)
    assert len(keys) == 1000 and keys[0].startswith("data/futures/um/daily/klines/LUVEXKOUSDT/1h/")
    sizes = [int(e.text or 0) for e in root.iter(f"{S3}Size")]
    assert all(s > 0 for s in sizes)
