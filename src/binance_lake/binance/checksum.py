"""The `.CHECKSUM` sidecar of every archive zip: parse it, render it, and compare digests.

Pure: no I/O. The format is GNU `sha256sum` output (reference §1.5): 64 lowercase hex digits, two spaces,
the zip's base name, then a newline — except some old spot files that end without the newline
(https://github.com/binance/binance-public-data/issues/241). Hashing itself is `hashlib.sha256`, updated
chunk by chunk while a download streams.
"""

from __future__ import annotations

import re

from binance_lake.core.errors import IntegrityError

CHECKSUM_MAX_BYTES = 1024
"""A `.CHECKSUM` is 67 bytes plus the file name; anything much larger is not one."""

_LINE = re.compile(r"^([0-9a-fA-F]{64})( +)(\*?)(.*)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _base_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def parse_checksum(text: bytes, expected_name: str) -> str:
    """The sha256 (64 lowercase hex) in a `.CHECKSUM` body that must name `expected_name`.

    `expected_name` may be the zip's base name or its whole key; only the base name is compared.
    Anything but `<sha256>␠␠<name>[\\n]` is an `IntegrityError` that says what is wrong.
    """
    name = _base_name(expected_name)
    if len(text) > CHECKSUM_MAX_BYTES:
        raise IntegrityError(
            f"the checksum of {name} is {len(text)} bytes long; a .CHECKSUM file is one line"
        )
    try:
        line = text.decode("ascii")
    except UnicodeDecodeError:
        raise IntegrityError(f"the checksum of {name} is not ASCII text") from None
    # One trailing LF is normal; its absence is the #241 quirk. Anything else after the name is not.
    line = line.removesuffix("\n")
    if "\n" in line or "\r" in line:
        raise IntegrityError(f"the checksum of {name} has more than one line")
    match = _LINE.match(line)
    if match is None:
        raise IntegrityError(
            f"the checksum of {name} does not start with a 64-digit hex sha256: {line[:80]!r}"
        )
    digest, spaces, binary_flag, listed = match.groups()
    if digest != digest.lower():
        raise IntegrityError(f"the checksum of {name} is not lowercase hex as sha256sum writes it")
    if spaces != "  " or binary_flag:
        raise IntegrityError(
            f"the checksum of {name} separates digest and name with {spaces + binary_flag!r}, not two spaces"
        )
    if listed != name:
        raise IntegrityError(f"the checksum published for {name} names another file: {listed!r}")
    return digest


def render_checksum(sha256: str, name: str, *, newline: bool = True) -> bytes:
    """The `.CHECKSUM` body Binance publishes for a zip (`newline=False` gives the #241 form)."""
    if _SHA256.match(sha256) is None:
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return f"{sha256}  {_base_name(name)}{chr(10) if newline else ''}".encode("ascii")


def is_sha256(value: str) -> bool:
    """True for 64 lowercase hex digits."""
    return _SHA256.match(value) is not None
