"""`.CHECKSUM` sidecars: the real bodies of reference §1.5 parse, with and without the final newline
(issue #241), and every other shape is refused with a reason."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.checksum import is_sha256, parse_checksum, render_checksum
from binance_lake.core.errors import IntegrityError

# Real 101-byte body (reference §1.5, komekome898-web/trade).
REAL = (
    b"ab3a94f126d3195358ae61e7db8c25f738d7ae4bb7fdec071c6030ed0baf9603  BTCUSD_PERP-metrics-2023-06-25.zip\n"
)
REAL_NAME = "BTCUSD_PERP-metrics-2023-06-25.zip"
REAL_SHA = "ab3a94f126d3195358ae61e7db8c25f738d7ae4bb7fdec071c6030ed0baf9603"


def test_real_body_parses_and_has_the_documented_size() -> None:
    assert len(REAL) == 64 + 2 + len(REAL_NAME) + 1 == 101
    assert parse_checksum(REAL, REAL_NAME) == REAL_SHA


def test_expected_name_may_be_the_whole_key() -> None:
    key = "data/futures/cm/daily/metrics/BTCUSD_PERP/" + REAL_NAME
    assert parse_checksum(REAL, key) == REAL_SHA


def test_old_spot_form_without_newline_parses() -> None:
    # BTCUSDT-1d-2017-08.zip.CHECKSUM is listed with Size 88 = 64 + 2 + 22: no trailing newline (#241).
    body = render_checksum("0" * 64, "BTCUSDT-1d-2017-08.zip", newline=False)
    assert len(body) == 88
    assert parse_checksum(body, "BTCUSDT-1d-2017-08.zip") == "0" * 64


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (REAL.replace(b"  ", b" "), "not two spaces"),
        (REAL.replace(b"  ", b" *"), "not two spaces"),
        (REAL.replace(b"  ", b"   "), "not two spaces"),
        (REAL.upper().replace(REAL_NAME.upper().encode(), REAL_NAME.encode()), "lowercase"),
        (REAL[:60] + REAL[64:], "64-digit hex"),
        (b"", "64-digit hex"),
        (REAL.replace(b"metrics-2023-06-25", b"metrics-2023-06-26"), "names another file"),
        (REAL + b"\n", "more than one line"),
        (REAL.replace(b"\n", b"\r\n"), "more than one line"),
        (REAL.replace(b"ab3a", b"\xff\xfe3a"), "not ASCII"),
        (REAL * 20, "one line"),
    ],
)
def test_bad_bodies_are_integrity_errors_saying_why(body: bytes, why: str) -> None:
    with pytest.raises(IntegrityError, match=why):
        parse_checksum(body, REAL_NAME)


_names = st.from_regex(
    r"[A-Z0-9_]{1,20}-[a-zA-Z0-9]{1,20}-20[0-9]{2}-[0-9]{2}(-[0-9]{2})?\.zip", fullmatch=True
)


@given(data=st.binary(max_size=256), name=_names, newline=st.booleans())
def test_render_then_parse_round_trips_in_both_newline_forms(data: bytes, name: str, newline: bool) -> None:
    digest = hashlib.sha256(data).hexdigest()
    body = render_checksum(digest, name, newline=newline)
    assert body.endswith(b"\n") == newline
    assert parse_checksum(body, name) == digest
    assert is_sha256(digest)


@given(name=_names, other=_names)
def test_a_checksum_for_another_file_is_refused(name: str, other: str) -> None:
    body = render_checksum("a" * 64, other)
    if name == other:
        assert parse_checksum(body, name) == "a" * 64
    else:
        with pytest.raises(IntegrityError, match="another file"):
            parse_checksum(body, name)


def test_render_refuses_a_non_sha256() -> None:
    with pytest.raises(ValueError, match="sha256"):
        render_checksum("ABC", "x.zip")
    assert not is_sha256("A" * 64)
