"""S3 listing pages: the real captures of reference §3.3 parse (the top-level `<Prefix>` is not a
directory), v2 and url-encoded pages parse, the marker rule follows AWS, and render -> parse round-trips."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.listing import (
    ListedObject,
    ListingPage,
    listing_url,
    next_marker,
    parse_listing,
    unquote_etag,
)
from binance_lake.core.errors import ServerError
from tests.binance.fake_archive import render_listing

# reference §3.3, v1 with a delimiter: note the empty-name directory `BTCUSDT//` (§1.4).
V1_DIRECTORIES = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>data.binance.vision</Name>'
    b"<Prefix>data/futures/um/daily/klines/BTCUSDT/</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys>"
    b"<Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>"
    b"<CommonPrefixes><Prefix>data/futures/um/daily/klines/BTCUSDT//</Prefix></CommonPrefixes>"
    b"<CommonPrefixes><Prefix>data/futures/um/daily/klines/BTCUSDT/12h/</Prefix></CommonPrefixes>"
    b"<CommonPrefixes><Prefix>data/futures/um/daily/klines/BTCUSDT/1h/</Prefix></CommonPrefixes>"
    b"</ListBucketResult>"
)

# reference §3.3, v1 without a delimiter (the capture's later <Contents> were trimmed by its author).
V1_FILES = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>data.binance.vision</Name>'
    b"<Prefix>data/futures/um/daily/klines/BTCUSDT/1h/</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>true</IsTruncated><Contents>"
    b"<Key>data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2019-12-31.zip</Key>"
    b"<LastModified>2022-03-21T08:58:02.000Z</LastModified>"
    b"<ETag>&quot;4c65e8f69a3ebae0cebef683f18dff3c&quot;</ETag><Size>1387</Size>"
    b"<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"
)

# reference §3.3, v2 captured live; the source truncates it after the second prefix, closed here.
V2_CAPTURE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>data.binance.vision</Name>'
    b"<Prefix>data/futures/um/monthly/klines/</Prefix><NextContinuationToken>1vtlduUMizIyQD/6/A3c8up6AL3k5"
    b"qpkwFua49VoycjWcV3WiCRfVhIYUWxGaTKYMDKt1oX8g/yEuBAsq2UbVEUIU8F4U8vJl</NextContinuationToken>"
    b"<KeyCount>20</KeyCount><MaxKeys>20</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
    b"<CommonPrefixes><Prefix>data/futures/um/monthly/klines/0GUSDT/</Prefix></CommonPrefixes>"
    b"<CommonPrefixes><Prefix>data/futures/um/monthly/klines/1000000BOBUSDT/</Prefix></CommonPrefixes>"
    b"</ListBucketResult>"
)


def test_v1_directories_ignore_the_echoed_prefix() -> None:
    page = parse_listing(V1_DIRECTORIES)
    assert page.prefixes == (
        "data/futures/um/daily/klines/BTCUSDT//",
        "data/futures/um/daily/klines/BTCUSDT/12h/",
        "data/futures/um/daily/klines/BTCUSDT/1h/",
    )
    assert "data/futures/um/daily/klines/BTCUSDT/" not in page.prefixes
    assert page.objects == ()
    assert not page.is_truncated
    assert next_marker(page) is None


def test_v1_files_parse_with_unquoted_etag_and_utc_time() -> None:
    page = parse_listing(V1_FILES)
    assert page.objects == (
        ListedObject(
            key="data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2019-12-31.zip",
            size=1387,
            etag="4c65e8f69a3ebae0cebef683f18dff3c",
            last_modified=dt.datetime(2022, 3, 21, 8, 58, 2, tzinfo=dt.UTC),
        ),
    )
    assert page.objects[0].last_modified.utcoffset() == dt.timedelta(0)
    assert page.prefixes == ()
    # Truncated without NextMarker (no delimiter was sent): continue after the last key (AWS rule).
    assert page.is_truncated and page.next_marker is None
    assert next_marker(page) == page.objects[0].key


def test_v2_capture_gives_prefixes_and_continuation_token() -> None:
    page = parse_listing(V2_CAPTURE)
    assert page.prefixes == (
        "data/futures/um/monthly/klines/0GUSDT/",
        "data/futures/um/monthly/klines/1000000BOBUSDT/",
    )
    assert page.is_truncated
    assert page.next_continuation_token is not None
    assert page.next_continuation_token.startswith(
        "1vtlduUMizIyQD/6/"
    ) and page.next_continuation_token.endswith("U8vJl")


def test_without_namespace_still_parses() -> None:
    xml = V1_DIRECTORIES.replace(b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b"")
    assert parse_listing(xml).prefixes == parse_listing(V1_DIRECTORIES).prefixes


def test_url_encoded_keys_are_decoded() -> None:
    xml = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Prefix>data%2F</Prefix>'
        b"<Marker></Marker><NextMarker>data%2Fb+c%2B%2F</NextMarker><MaxKeys>2</MaxKeys>"
        b"<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        b"<Contents><Key>data%2Fa%20b.zip</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
        b"<ETag>&quot;ab&quot;</ETag><Size>1</Size></Contents>"
        b"<CommonPrefixes><Prefix>data%2Fb+c%2B%2F</Prefix></CommonPrefixes></ListBucketResult>"
    )
    page = parse_listing(xml)
    assert page.objects[0].key == "data/a b.zip"
    assert page.prefixes == ("data/b c+/",)
    assert page.next_marker == "data/b c+/"


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        (b"<ListBucketResult><Contents><Key>a", "malformed XML"),
        (b"<html><body>data.binance.vision</body></html>", "root element is <html>"),
        (b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "no <Key>"),
        (
            b"<ListBucketResult><Contents><Key>k</Key><Size>x</Size><LastModified>2024-01-01T00:00:00Z"
            b"</LastModified></Contents></ListBucketResult>",
            "not an integer",
        ),
        (
            b"<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday"
            b"</LastModified></Contents></ListBucketResult>",
            "not an ISO time",
        ),
        (b"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>", "IsTruncated"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><ListBucketResult/>', "DTD"),
        (b"<Error><Code>AccessDenied</Code></Error>", "AccessDenied"),
    ],
)
def test_malformed_listing_is_a_server_error_naming_the_url(xml: bytes, why: str) -> None:
    url = "http://127.0.0.1:9/listing?prefix=data/"
    with pytest.raises(ServerError, match=why) as caught:
        parse_listing(xml, url=url)
    assert caught.value.url == url
    assert url in str(caught.value)


def test_next_marker_prefers_next_marker_then_the_greatest_entry() -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    obj = ListedObject("data/a/x.zip", 1, "e", when)
    assert next_marker(ListingPage((obj,), ("data/b/",), True, "data/zz")) == "data/zz"
    assert next_marker(ListingPage((obj,), ("data/b/",), True)) == "data/b/"
    assert next_marker(ListingPage((obj,), ("data/0/",), True)) == "data/a/x.zip"
    assert next_marker(ListingPage((), (), True)) is None
    assert next_marker(ListingPage((obj,), (), False, "data/zz")) is None


def test_listing_url_is_v1_in_the_sites_order_and_fully_encoded() -> None:
    url = listing_url("http://h/bucket/", "data/futures/um/", marker="data/a+b c/", max_keys=20)
    split = urlsplit(url)
    assert split.path == "/bucket"
    assert split.query == "delimiter=%2F&prefix=data%2Ffutures%2Fum%2F&marker=data%2Fa%2Bb%20c%2F&max-keys=20"
    assert parse_qsl(split.query) == [
        ("delimiter", "/"),
        ("prefix", "data/futures/um/"),
        ("marker", "data/a+b c/"),
        ("max-keys", "20"),
    ]
    assert "delimiter" not in listing_url("http://h/b", "data/", delimiter=None)
    with pytest.raises(ValueError, match="max_keys"):
        listing_url("http://h/b", "data/", max_keys=1001)


def test_unquote_etag_forms() -> None:
    assert unquote_etag('"abc"') == "abc"
    assert unquote_etag('W/"abc"') == "abc"
    assert unquote_etag("abc-3") == "abc-3"


# Keys S3 could hold: printable text incl. XML specials and characters that need url-encoding.
_key_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"], exclude_characters="\r\n"),
    min_size=1,
    max_size=40,
)
_times = st.datetimes(
    min_value=dt.datetime(2017, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
_objects = st.builds(
    ListedObject,
    key=_key_text.map(lambda s: "data/" + s),
    size=st.integers(0, 2**40),
    etag=st.from_regex(r"[0-9a-f]{32}(-[0-9]{1,3})?", fullmatch=True),
    last_modified=_times,
)
_pages = st.builds(
    ListingPage,
    objects=st.lists(_objects, max_size=5).map(tuple),
    prefixes=st.lists(_key_text.map(lambda s: "data/" + s + "/"), max_size=5).map(tuple),
    is_truncated=st.booleans(),
    next_marker=st.none() | _key_text,
)


@given(page=_pages, url_encoded=st.booleans())
def test_render_then_parse_round_trips_v1(page: ListingPage, url_encoded: bool) -> None:
    assert parse_listing(render_listing(page, url_encoded=url_encoded)) == page


@given(page=_pages, token=st.none() | st.from_regex(r"[A-Za-z0-9/+=]{1,60}", fullmatch=True))
def test_render_then_parse_round_trips_v2(page: ListingPage, token: str | None) -> None:
    v2_page = ListingPage(page.objects, page.prefixes, page.is_truncated, None, token)
    assert parse_listing(render_listing(v2_page, v2=True)) == v2_page
