"""Render ground-truth tables as the archive's bytes: CSV text exactly as Binance writes it, a zip with one
deflated member, and the `.CHECKSUM` companion.

Pure: no I/O. Number text has fixed decimals per column (`content.decimals`), epoch columns are ms, or µs
for spot from 2025 (issue #386), booleans are `true/false` for futures and `True/False` for spot, text times
are `YYYY-MM-DD HH:MM:SS`, blanks are `""` (CM metrics). The per-file quirks (header or not, duplicated,
unordered or truncated rows, relabelled metrics) are applied by the caller through `RenderOptions`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute

from binance_lake.core.datasets import ColumnKind, CsvLayout
from binance_lake.core.timerange import EPOCH

# pyarrow-stubs' overloads are narrower than these generic column helpers; arrays are typed loosely here.
pc: Any = pyarrow.compute
Column = Any

# Fixed member timestamp: the same table always zips to the same bytes.
ZIP_MEMBER_TIME = (2020, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class RenderOptions:
    header: bool
    epoch_unit: str  # "ms" or "us"
    spot_booleans: bool  # True/False instead of true/false
    symbol: str  # the value of dropped `symbol` columns
    decimals: Mapping[str, int]


def _fixed(values: Column, decimals: int) -> Column:
    """Floats as text with exactly `decimals` decimals: the exact binary value rounded, like `f"{v:.{d}f}"`.

    The whole part and the fraction are split before scaling, so large values keep every digit.
    """
    floats = values.cast(pa.float64())
    magnitude = pc.abs(floats)
    whole = pc.floor(magnitude)
    scale = 10**decimals
    frac = pc.round(pc.multiply(pc.subtract(magnitude, whole), float(scale))).cast(pa.int64())
    carry = pc.equal(frac, scale)
    whole_int = pc.add(whole.cast(pa.int64()), pc.if_else(carry, 1, 0))
    frac = pc.if_else(carry, 0, frac)
    negative = pc.and_(pc.less(floats, 0.0), pc.or_(pc.greater(whole_int, 0), pc.greater(frac, 0)))
    sign = pc.if_else(negative, "-", "")
    if decimals == 0:
        return pc.binary_join_element_wise(sign, whole_int.cast(pa.string()), "")
    frac_text = pc.utf8_lpad(frac.cast(pa.string()), decimals, "0")
    return pc.binary_join_element_wise(sign, whole_int.cast(pa.string()), ".", frac_text, "")


def _epoch(values: Column, unit: str) -> Column:
    micros = values.cast(pa.int64())
    return (pc.divide(micros, 1000) if unit == "ms" else micros).cast(pa.string())


def _text_time(values: Column, with_time: bool) -> Column:
    seconds = values.cast(pa.int64())
    naive = pc.divide(seconds, 1_000_000).cast(pa.timestamp("s"))
    return pc.strftime(naive, format="%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d")


def _column_text(column: Column, kind: ColumnKind, name: str, options: RenderOptions) -> Column:
    if kind is ColumnKind.EPOCH_TIME:
        text = _epoch(column, options.epoch_unit)
    elif kind in (ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE):
        text = _text_time(column, kind is ColumnKind.TEXT_TIME)
    elif kind is ColumnKind.FLOAT:
        text = _fixed(column, options.decimals.get(name, 8))
    elif kind is ColumnKind.BOOL:
        words = ("True", "False") if options.spot_booleans else ("true", "false")
        text = pc.if_else(column, words[0], words[1])
    else:
        text = column.cast(pa.string())
    return pc.fill_null(text, '""')


# Below this many rows, plain Python formatting beats the fixed cost of vectorised compute calls.
SMALL_TABLE_ROWS = 200


def _py_text(value: object, kind: ColumnKind, name: str, options: RenderOptions) -> str:
    if value is None:
        return '""'
    if kind is ColumnKind.EPOCH_TIME:
        assert isinstance(value, dt.datetime)
        micros = (value - EPOCH) // dt.timedelta(microseconds=1)
        return str(micros // 1000 if options.epoch_unit == "ms" else micros)
    if kind is ColumnKind.TEXT_TIME:
        assert isinstance(value, dt.datetime)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind is ColumnKind.TEXT_DATE:
        assert isinstance(value, dt.datetime)
        return value.strftime("%Y-%m-%d")
    if kind is ColumnKind.FLOAT:
        assert isinstance(value, float)
        return f"{value:.{options.decimals.get(name, 8)}f}"
    if kind is ColumnKind.BOOL:
        text = "True" if value else "False"
        return text if options.spot_booleans else text.lower()
    return str(value)


def _small_csv_lines(table: pa.Table, layout: CsvLayout, options: RenderOptions) -> list[str]:
    columns = []
    for column in layout.columns:
        if column.kind is ColumnKind.DROPPED:
            value = "0" if column.name == "ignore" else options.symbol
            columns.append([value] * table.num_rows)
        else:
            values = table.column(column.name).to_pylist()
            columns.append([_py_text(v, column.kind, column.name, options) for v in values])
    return [",".join(row) for row in zip(*columns, strict=True)]


def csv_bytes(table: pa.Table, layout: CsvLayout, options: RenderOptions) -> bytes:
    """The CSV text of `table` in the file's column order (dropped columns restored), LF line ends."""
    rows = table.num_rows
    if rows <= SMALL_TABLE_ROWS:
        head = [layout.header] if options.header and layout.header else []
        lines = head + _small_csv_lines(table, layout, options)
        return ("\n".join(lines) + "\n").encode() if lines else b""
    pieces: list[Column] = []
    for column in layout.columns:
        if column.kind is ColumnKind.DROPPED:
            value = "0" if column.name == "ignore" else options.symbol
            pieces.append(pa.array([value] * rows, pa.string()))
        else:
            data = table.column(column.name).combine_chunks()
            pieces.append(_column_text(data, column.kind, column.name, options))
    text_lines: list[str] = []
    if options.header and layout.header:
        text_lines.append(layout.header)
    if rows:
        joined = pc.binary_join_element_wise(*pieces, ",")
        text_lines.extend(joined.to_pylist())
    return ("\n".join(text_lines) + "\n").encode() if text_lines else b""


def zip_bytes(
    member_name: str, payload: bytes, *, comment_to: int | None = None, level: int = COMPRESS_LEVEL
) -> bytes:
    """One deflated member. With `comment_to`, the archive comment pads the zip to exactly that size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        info = zipfile.ZipInfo(member_name, date_time=ZIP_MEMBER_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        info.create_system = 3
        archive.writestr(info, payload, compresslevel=level)
        if comment_to is not None:
            missing = comment_to - (buffer.tell() + 46 + len(member_name) + 22)
            if not 0 <= missing <= 0xFFFF:
                raise RuntimeError(f"cannot pad {member_name} to {comment_to} bytes (short by {missing})")
            archive.comment = b" " * missing
    data = buffer.getvalue()
    if comment_to is not None and len(data) != comment_to:
        raise RuntimeError(f"padded {member_name} to {len(data)} bytes, not {comment_to}")
    return data


def checksum_text(zip_data: bytes, zip_name: str, *, newline: bool = True) -> bytes:
    """`<sha256 hex>␠␠<zip name>\\n`, GNU sha256sum style (old spot files lack the newline, issue #241)."""
    line = f"{hashlib.sha256(zip_data).hexdigest()}  {zip_name}"
    return (line + ("\n" if newline else "")).encode()
