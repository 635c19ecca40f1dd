"""Qlib's on-disk format, exactly as its `scripts/dump_bin.py` writes it (and pyqlib 0.9.7 reads it).

    <dir>/calendars/<freq>.txt          one bar open time a line: `%Y-%m-%d` for day, `%Y-%m-%d %H:%M:%S` else
    <dir>/instruments/all.txt           `NAME<TAB>start<TAB>end`, one line per instrument, shared by all freqs
    <dir>/features/<name lower>/<field>.<freq>.bin
                                        little-endian float32: the index of the first value in that freq's
                                        calendar, then one value per calendar bar (NaN where there is no bar)

Traps found with the real library (docs/architecture.md, ../shared/reference/components.md): a feature folder
must be lower case (an upper-case one silently reads nothing); an instrument's end must be a full timestamp
for minute data (a date-only end cuts the data at that midnight), so `all.txt` always carries full timestamps;
the freq names are `1min`, `60min` and `day` (`1h` is refused); each freq needs its own calendar and files.
Windows device names (CON, PRN, …) get Qlib's `_qlib_` prefix as in `qlib.utils.code_to_fname`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.vocabulary import Interval

CALENDARS = "calendars"
INSTRUMENTS = "instruments"
FEATURES = "features"
INSTRUMENTS_FILE = "all.txt"
DAY_FORMAT = "%Y-%m-%d"
MINUTE_FORMAT = "%Y-%m-%d %H:%M:%S"
FLOAT = np.dtype("<f4")
HEADER_BYTES = FLOAT.itemsize

# Seed 004's mapping: Qlib field <- lake column (klines); vwap and factor are derived.
FIELDS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "amount",
    "vwap",
    "trades",
    "taker_buy_volume",
    "taker_buy_amount",
    "factor",
)
COLUMNS: Mapping[str, str] = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "amount": "quote_volume",
    "trades": "count",
    "taker_buy_volume": "taker_buy_volume",
    "taker_buy_amount": "taker_buy_quote_volume",
}
SOURCE_COLUMNS: tuple[str, ...] = ("open_time", *COLUMNS.values())


class Freq(StrEnum):
    """Qlib's names of the three frequencies it reads from its own files."""

    MIN1 = "1min"
    MIN60 = "60min"
    DAY = "day"

    @property
    def step(self) -> dt.timedelta:
        return {"1min": dt.timedelta(minutes=1), "60min": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}[
            self.value
        ]

    @property
    def interval(self) -> Interval:
        """The lake's kline interval this freq is read from by default."""
        return {"1min": Interval.M1, "60min": Interval.H1, "day": Interval.D1}[self.value]

    @property
    def calendar_format(self) -> str:
        return DAY_FORMAT if self is Freq.DAY else MINUTE_FORMAT

    @property
    def line_bytes(self) -> int:
        """Every calendar line has the same width, so a calendar of n bars is n * line_bytes bytes."""
        return len(dt.datetime(2000, 1, 1).strftime(self.calendar_format)) + 1


def parse_freq(text: str) -> Freq:
    try:
        return Freq(text.strip())
    except ValueError:
        raise UsageError(
            f"unknown Qlib freq {text!r}; choose 1min, 60min or day (Qlib refuses 1h and hour)"
        ) from None


_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)


def instrument_name(prefix: str, symbol: str) -> str:
    """The instrument as `all.txt` names it: upper case, as dump_bin writes it (`BINANCE_UM.BTCUSDT`); Qlib
    finds it under any case (`binance_um.BTCUSDT` too) since it lower-cases names for the feature folders."""
    return f"{prefix}{symbol}".upper()


def feature_dir(root: Path, name: str) -> Path:
    """`features/<name, lower case>`: Qlib looks instruments up lower-cased (an upper-case folder reads
    nothing), and Windows device names are prefixed as `qlib.utils.code_to_fname` does."""
    code = f"_qlib_{name}" if name.upper() in _DEVICE_NAMES else name
    return root / FEATURES / code.lower()


def bin_path(root: Path, name: str, field: str, freq: Freq) -> Path:
    return feature_dir(root, name) / f"{field.lower()}.{freq.value}.bin"


def bin_names(freq: Freq) -> dict[str, str]:
    """Every field's `.bin` file name in an instrument's folder."""
    return {field: f"{field}.{freq.value}.bin" for field in FIELDS}


def bin_paths(root: Path, name: str, freq: Freq) -> dict[str, str]:
    """Every field's `.bin` of one instrument, as strings (an export makes thousands: no Path per file)."""
    folder = str(feature_dir(root, name))
    return {field: f"{folder}/{field}.{freq.value}.bin" for field in FIELDS}


def calendar_path(root: Path, freq: Freq) -> Path:
    return root / CALENDARS / f"{freq.value}.txt"


def instruments_path(root: Path) -> Path:
    return root / INSTRUMENTS / INSTRUMENTS_FILE


def calendar_lines(first: dt.datetime, count: int, freq: Freq) -> bytes:
    """`count` calendar lines from the bar `first` on, every bar of the 24/7 grid."""
    if count <= 0:
        return b""
    start = np.datetime64(first.replace(tzinfo=None), "s")
    step = np.timedelta64(int(freq.step.total_seconds()), "s")
    times = start + step * np.arange(count, dtype=np.int64)
    unit = "D" if freq is Freq.DAY else "s"
    text: Any = np.datetime_as_string(times, unit=unit)  # type: ignore[call-overload]
    if freq is not Freq.DAY:
        text = np.char.replace(text, "T", " ")
    return ("\n".join(text.tolist()) + "\n").encode()


def bin_bytes(start_index: int, values: npt.NDArray[np.float32]) -> bytes:
    """A whole `.bin` file: the start index as a float32, then the values."""
    return np.float32(start_index).astype(FLOAT).tobytes() + values.astype(FLOAT, copy=False).tobytes()


def bin_pieces(start_index: int, values: npt.NDArray[np.float32]) -> tuple[bytes, memoryview]:
    """`bin_bytes` as two pieces for one `writev`, the values not copied."""
    array = np.ascontiguousarray(values, dtype=FLOAT)
    return np.float32(start_index).astype(FLOAT).tobytes(), memoryview(array.data).cast("B")


def bin_size(count: int) -> int:
    """The size of a `.bin` file holding `count` values."""
    return HEADER_BYTES * (1 + count)


def format_time(moment: dt.datetime) -> str:
    return moment.strftime(MINUTE_FORMAT)


@dataclass(frozen=True)
class Span:
    """An instrument's line in `all.txt`: its first and last bar (naive UTC)."""

    start: dt.datetime
    end: dt.datetime

    def union(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


def read_instruments(path: Path) -> dict[str, Span]:
    """`all.txt` as written by us or by dump_bin (date-only or full timestamps)."""
    if not path.exists():
        return {}
    found: dict[str, Span] = {}
    try:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise StorageError(f"{path} line {number} is not NAME<TAB>start<TAB>end: {line!r}")
            span = Span(dt.datetime.fromisoformat(parts[1]), dt.datetime.fromisoformat(parts[2]))
            found[parts[0]] = found[parts[0]].union(span) if parts[0] in found else span
    except ValueError as error:
        raise StorageError(f"{path} is not a Qlib instruments file: {error}") from None
    return found


def instruments_text(spans: Mapping[str, Span]) -> bytes:
    """`all.txt`, one line per instrument in name order, both ends full timestamps (see the module docstring)."""
    lines = [f"{name}\t{format_time(s.start)}\t{format_time(s.end)}\n" for name, s in sorted(spans.items())]
    return "".join(lines).encode()
