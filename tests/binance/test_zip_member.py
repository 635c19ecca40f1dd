"""`read_member`: the one-call inflate of a member that fits in memory agrees with zipfile, byte for byte, with
ISA-L's inflate or zlib's, and damaged bytes are a `ParseError` naming the file."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.binance import zip_member
from binance_lake.binance.zip_member import read_member
from binance_lake.core.errors import ParseError, UnsafeArchive

NAME = "BTCUSDT-1m-2026-10.csv"


def _zip(payload: bytes, *, method: int = zipfile.ZIP_DEFLATED, name: str = NAME) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()


@pytest.fixture(params=["default", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both inflaters: the installed one (ISA-L when the `fast` extra is there) and zlib's fallback."""
    if request.param == "zlib":
        monkeypatch.setattr(zip_member, "_INFLATER", zlib)
    return str(request.param)


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(max_size=20_000), method=st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
def test_read_member_is_what_zipfile_reads(payload: bytes, method: int) -> None:
    for inflate in (zip_member._fast_inflater(), zlib):
        zip_member._INFLATER = inflate
        try:
            assert read_member(_zip(payload, method=method), NAME, limit=1 << 20) == payload
        finally:
            zip_member._INFLATER = zip_member._fast_inflater()


def test_a_member_above_the_limit_is_left_to_the_stream(inflater: str) -> None:
    data = _zip(b"1,2,3\n" * 1000)
    assert read_member(data, NAME, limit=5999) is None
    assert read_member(data, NAME, limit=6000) == b"1,2,3\n" * 1000


def test_damaged_deflate_bytes_are_a_parse_error_naming_the_file(inflater: str) -> None:
    payload = b"".join(b"%d,1.5,2.5\n" % i for i in range(50_000))
    data = bytearray(_zip(payload))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    with pytest.raises(ParseError, match=r"BTCUSDT-1m-2026-10\.zip: the zip archive is corrupt"):
        read_member(bytes(data), NAME, limit=1 << 24, file_name="BTCUSDT-1m-2026-10.zip")


def test_a_wrong_crc_is_a_parse_error(inflater: str) -> None:
    payload = b"1,2,3\n" * 100
    data = bytearray(_zip(payload))
    # The central directory's CRC-32 (what zipfile checks): flip one bit of it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 16] ^= 0x01
    with pytest.raises(ParseError, match="CRC-32"):
        read_member(bytes(data), NAME, limit=1 << 20)


def test_the_safety_checks_still_come_first(inflater: str) -> None:
    with pytest.raises(UnsafeArchive, match="directory part"):
        read_member(_zip(b"1\n", name="../evil.csv"), NAME, limit=1 << 20)
    with pytest.raises(UnsafeArchive, match="above the limit"):
        read_member(_zip(b"1\n" * 100), NAME, limit=1 << 20, max_inflated_bytes=10)
