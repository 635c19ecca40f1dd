"""The one CSV member of an archive zip, opened as a stream after the zip passes its safety checks.

Every archive zip holds exactly one member named after the zip: `BTCUSDT-1m-2019-12-31.zip` ->
`BTCUSDT-1m-2019-12-31.csv` (reference §1.6). Before anything is inflated this module checks, from the
central directory alone, that there is one member, that its name is a plain file name (no directory part,
no `..`, not absolute), and that its declared inflated size is below a limit. `zipfile` never inflates more
than the declared size, so the size check also bounds what a lying archive can produce.

Errors: an archive that could escape its directory or exhaust memory is `UnsafeArchive`; bytes that are not
a readable zip (the 7 spot monthly zips that cannot be unzipped, issue
https://github.com/binance/binance-public-data/issues/469) are `ParseError`. Both name the file.

`read_member` inflates a member that fits in memory in one call, from its compressed bytes, with ISA-L's
inflate (`isal`, the optional extra `fast`: about twice zlib's speed on these CSVs, bench/parse.py) when it is
installed, else zlib; the size and CRC-32 are checked as zipfile checks them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import BinaryIO, cast

from binance_lake.core.errors import ParseError, UnsafeArchive

ZipSource = str | os.PathLike[str] | bytes | BinaryIO
"""A downloaded zip: a path on disk, its bytes, or a seekable binary stream."""

MAX_INFLATED_BYTES = 8 * 1024**3
"""The largest member we inflate (8 GiB). The biggest real monthly trades CSVs are a few GB."""

# Exceptions the standard library raises for archives it cannot read (bad headers, CRC, truncation,
# unsupported compression or encryption).
ZIP_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
)

_DRIVE = re.compile(r"^[A-Za-z]:")

# A zip's local file header (APPNOTE 4.3.7): signature, versions, flags, method, time, date, CRC, sizes,
# then the lengths of the name and the extra field that sit between it and the compressed bytes.
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x1


def _fast_inflater() -> ModuleType:
    try:
        from isal import isal_zlib
    except ImportError:  # the optional extra `fast` is not installed
        return zlib
    return isal_zlib


_INFLATER = _fast_inflater()

log = logging.getLogger(__name__)


def source_name(source: ZipSource) -> str:
    """A short name of the source for error messages."""
    if isinstance(source, bytes):
        return "<zip bytes>"
    if isinstance(source, str | os.PathLike):
        return Path(os.fspath(source)).name
    return str(getattr(source, "name", "<zip stream>"))


def unsafe_member_reason(name: str) -> str | None:
    """Why a member name could escape the extraction directory, or None when it is a plain file name."""
    if not name:
        return "an empty name"
    if "/" in name or "\\" in name:
        return "a directory part"
    if ".." in name:
        return "'..'"
    if _DRIVE.match(name):
        return "a drive letter"
    return None


def _open_zip(source: ZipSource, label: str) -> zipfile.ZipFile:
    try:
        if isinstance(source, bytes):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except ZIP_READ_ERRORS as error:
        raise ParseError(f"{label}: not a readable zip archive ({error})") from error
    except OSError as error:
        raise ParseError(f"{label}: cannot open the zip archive ({error})") from error


def check_member(
    archive: zipfile.ZipFile, expected_name: str, *, label: str, max_inflated_bytes: int
) -> zipfile.ZipInfo:
    """The single member of `archive`, after the safety checks; raises `UnsafeArchive` or `ParseError`."""
    members = archive.infolist()
    if not members:
        raise ParseError(f"{label}: the zip archive is empty (expected one member {expected_name!r})")
    if len(members) > 1:
        names = ", ".join(repr(m.filename) for m in members[:5])
        raise UnsafeArchive(f"{label}: expected one member, found {len(members)} ({names})")
    member = members[0]
    reason = unsafe_member_reason(member.filename)
    if reason is not None:
        raise UnsafeArchive(f"{label}: member name {member.filename!r} has {reason}")
    if member.file_size > max_inflated_bytes:
        raise UnsafeArchive(
            f"{label}: member {member.filename!r} inflates to {member.file_size} bytes, "
            f"above the limit of {max_inflated_bytes}"
        )
    if member.filename != expected_name:
        # Tolerated: the bytes are what the key names; a differently named member is reported, not fatal.
        log.warning("%s: member is named %r, expected %r", label, member.filename, expected_name)
    return member


def open_member(
    source: ZipSource, expected_name: str, *, max_inflated_bytes: int = MAX_INFLATED_BYTES
) -> BinaryIO:
    """Open the one CSV member of a zip as a binary stream that inflates as it is read.

    The caller closes the stream (use it as a context manager); that also releases the zip file.
    A member named differently from `expected_name` is accepted and logged as a warning.
    """
    label = source_name(source)
    archive = _open_zip(source, label)
    with archive:
        member = check_member(archive, expected_name, label=label, max_inflated_bytes=max_inflated_bytes)
        try:
            # The member stream keeps the underlying file open after the ZipFile itself is closed.
            return cast(BinaryIO, archive.open(member))
        except ZIP_READ_ERRORS as error:
            raise ParseError(f"{label}: cannot open member {member.filename!r} ({error})") from error


def _compressed_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes | None:
    """The member's compressed bytes, read past its local header; None when zipfile must read it (stored
    encrypted, or compressed with another method than deflate)."""
    if member.flag_bits & _ENCRYPTED or member.compress_type != zipfile.ZIP_DEFLATED:
        return None
    handle = archive.fp
    assert handle is not None
    handle.seek(member.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile("bad magic number for the member's local header")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    handle.seek(name_length + extra_length, os.SEEK_CUR)
    data = handle.read(member.compress_size)
    if len(data) != member.compress_size:
        raise EOFError("the member's compressed bytes are truncated")
    return data


def read_member(
    source: ZipSource,
    expected_name: str,
    *,
    limit: int,
    max_inflated_bytes: int = MAX_INFLATED_BYTES,
    file_name: str | None = None,
) -> bytes | None:
    """The one CSV member's inflated bytes when it inflates to at most `limit` bytes (None: stream it with
    `open_member`). Same checks and errors as `open_member`; the size and CRC-32 are verified. Damaged bytes
    are a `ParseError` naming `file_name` (the archive file's name) when given."""
    label = source_name(source)
    archive = _open_zip(source, label)
    with archive:
        member = check_member(archive, expected_name, label=label, max_inflated_bytes=max_inflated_bytes)
        if member.file_size > limit:
            return None
        try:
            compressed = _compressed_bytes(archive, member)
            if compressed is None:
                return archive.read(member)
            data: bytes = _INFLATER.decompress(compressed, -15, member.file_size or 1)
            if len(data) != member.file_size or _INFLATER.crc32(data) != member.CRC:
                raise zipfile.BadZipFile(f"bad CRC-32 or size for member {member.filename!r}")
            return data
        except (*ZIP_READ_ERRORS, _INFLATER.error) as error:
            raise ParseError(f"{file_name or label}: the zip archive is corrupt ({error})") from error
        except OSError as error:
            raise ParseError(f"{file_name or label}: cannot read the zip archive ({error})") from error
