"""The one CSV member of an archive zip, opened as a stream after the zip passes its safety checks.

Every archive zip holds exactly one member named after the zip: `BTCUSDT-1m-2019-12-31.zip` ->
`BTCUSDT-1m-2019-12-31.csv` (reference §1.6). Before anything is inflated this module checks, from the
central directory alone, that there is one member, that its name is a plain file name (no directory part,
no `..`, not absolute), and that its declared inflated size is below a limit. `zipfile` never inflates more
than the declared size, so the size check also bounds what a lying archive can produce.

Errors: an archive that could escape its directory or exhaust memory is `UnsafeArchive`; bytes that are not
a readable zip (the 7 spot monthly zips that cannot be unzipped, issue
https://github.com/binance/binance-public-data/issues/469) are `ParseError`. Both name the file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
import zlib
from pathlib import Path
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
