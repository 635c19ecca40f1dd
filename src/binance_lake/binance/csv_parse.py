"""Archive CSV -> Arrow in the lake schema of the dataset registry, with every format quirk handled.

Pure: bytes or streams in, Arrow out (no network, no database). `parse_file` returns a whole table;
`iter_batches` yields record batches with bounded memory (a 1 GB trades CSV never sits in RAM at once);
`parse_files` parses many small files of one layout in one pyarrow call and gives each file its own table back
(the same tables as `parse_file`, without its fixed cost per file). All apply the same rules, decided per
file from the file itself (reference §2):

* Header: if the first byte is a digit or '-', the file has no header; otherwise line 1 is a header and must
  name the registry's columns in order (§2.1, §2.3: futures headers came and went per object; spot has none).
* Epoch columns are int64 in ms or µs: a file whose values reach `quirks.MICROSECOND_THRESHOLD` is µs, else ms
  (§2.4; spot switched to µs on 2025-01-01, which we check in the values instead of trusting the calendar).
  Both become `timestamp[us, UTC]` exactly (ms x 1000). A file mixing the two eras is a `ParseError`.
* Text times (`YYYY-MM-DD HH:MM:SS`, UTC) and dates become `timestamp[us, UTC]`.
* Booleans are `true/false` (futures) or `True/False` (spot); empty and `""` fields are null in every
  column, numbers and text alike (CM metrics blanks, https://github.com/binance/binance-public-data/issues/498;
  EOHSummary's empty fields). Only the empty string is null: `NaN` or `NA` text is not reinterpreted.
* Dropped columns (klines `ignore`, the repeated `symbol`) are not kept.
* UM metrics label change (https://github.com/binance/binance-public-data/issues/491): UM files dated before
  `quirks.UM_METRICS_START_LABELS_FROM` label each 5-minute row with the END of its period (00:05 ... 00:00 of
  the next day); later UM files and all CM files use the START. We normalise to START labels by subtracting
  `quirks.METRICS_PERIOD` from the older UM files, so one day is 00:00 ... 23:55 in every era and consecutive
  files never share a timestamp. Consumers that join metrics onto other data must therefore join them as of
  the END of their period (`create_time + METRICS_PERIOD`) to avoid look-ahead.

The output schema is exactly `get_dataset(file.dataset).schema(file.market)`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from binance_lake.binance.zip_member import (
    MAX_INFLATED_BYTES,
    ZIP_READ_ERRORS,
    ZipSource,
    open_member,
    read_member,
)
from binance_lake.core import quirks
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import TIMESTAMP, ColumnKind, CsvLayout
from binance_lake.core.errors import ParseError
from binance_lake.core.vocabulary import Market

DEFAULT_BLOCK_SIZE = 1024**2
"""CSV bytes per batch in `iter_batches` (about 20 k trade rows)."""

IN_MEMORY_BYTES = 64 * 1024**2
"""CSVs up to this size are inflated in one call and parsed from memory in `parse_file`: a Python stream costs
pyarrow a callback per block and zipfile a call per read (~0.4 ms of a 720-row file's ~1.7 ms). Larger ones
(a month of 1s bars is ~285 MiB) stream, with bounded memory."""

TABLE_BLOCK_SIZE = 512 * 1024
"""CSV bytes per parsing block in `parse_file`. Blocks that fit in the CPU cache next to the inflating zip
parse about 1.5x faster than 16 MiB ones (bench/parse.py), and let two threads inflate and parse at once."""

BATCH_FILE_BYTES = 4 * 1024**2
"""CSVs up to this size are parsed together in `parse_files`: a month of 1h bars is ~60 KiB, where most of
`parse_file`'s ~1 ms is its fixed cost per call (reader set-up, conversion, casts), not the rows. A month of
1m bars (~4.5 MiB) is mostly rows: it is parsed alone."""

BATCH_BYTES = 16 * 1024**2
"""At most this much CSV in one `parse_files` call of pyarrow (bounded memory for a large batch)."""

_SNIFF_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"

_READ_TYPES: dict[ColumnKind, pa.DataType] = {
    ColumnKind.EPOCH_TIME: pa.int64(),  # the unit is decided from the values, per file
    ColumnKind.TEXT_TIME: pa.timestamp("us"),  # naive text in UTC; tagged UTC after parsing
    ColumnKind.TEXT_DATE: pa.timestamp("us"),
    ColumnKind.FLOAT: pa.float64(),
    ColumnKind.INT: pa.int64(),
    ColumnKind.BOOL: pa.bool_(),
    ColumnKind.TEXT: pa.string(),
}

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"

# Everything pyarrow and zipfile raise while reading a member, translated once into `ParseError`.
_READ_ERRORS: tuple[type[BaseException], ...] = (pa.ArrowException, *ZIP_READ_ERRORS)


def member_name(file: ArchiveFile) -> str:
    """The CSV member an archive zip holds: `BTCUSDT-1m-2019-12-31.zip` -> `BTCUSDT-1m-2019-12-31.csv`."""
    return file.file_name.removesuffix(".zip") + ".csv"


def label_shift(file: ArchiveFile) -> dt.timedelta | None:
    """How much to subtract from the file's time column to get start-of-period labels (issue #491)."""
    if (
        file.dataset == "metrics"
        and file.market is Market.UM
        and file.period < quirks.UM_METRICS_START_LABELS_FROM
    ):
        return quirks.METRICS_PERIOD
    return None


def parse_file(
    source: ZipSource, file: ArchiveFile, *, max_inflated_bytes: int = MAX_INFLATED_BYTES
) -> pa.Table:
    """Parse the CSV inside an archive zip into a table in the lake schema (see the module docstring).

    UM metrics files dated before 2026-06-25 are shifted to start-of-period labels (issue #491).
    Raises `ParseError` (wrong header, column count, bad value, unreadable zip) or `UnsafeArchive`.
    """

    def reopen() -> BinaryIO:
        return open_member(source, member_name(file), max_inflated_bytes=max_inflated_bytes)

    # A member that fits in memory is inflated in one call and parsed where it lies (no stream, no copy).
    data = read_member(
        source,
        member_name(file),
        limit=IN_MEMORY_BYTES,
        max_inflated_bytes=max_inflated_bytes,
        file_name=file.file_name,
    )
    if data is not None:
        return parse_csv(data, file)
    with reopen() as member:
        return _read_table(member, file, reopen)


def iter_batches(
    source: ZipSource,
    file: ArchiveFile,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_inflated_bytes: int = MAX_INFLATED_BYTES,
) -> Iterator[pa.RecordBatch]:
    """Stream the CSV inside an archive zip as record batches in the lake schema, with bounded memory.

    Same conversion as `parse_file` (including the UM metrics start-of-period shift, issue #491); about
    `block_size` bytes of CSV per batch. A file with no rows yields nothing.
    """

    def reopen() -> BinaryIO:
        return open_member(source, member_name(file), max_inflated_bytes=max_inflated_bytes)

    with reopen() as member:
        yield from _read_batches(member, file, reopen, block_size)


def parse_csv(data: bytes, file: ArchiveFile) -> pa.Table:
    """Parse an already extracted CSV (the member's bytes) as `parse_file` does."""
    planned = _sniff(data[:_SNIFF_BYTES], file, complete=len(data) < _SNIFF_BYTES)
    if planned is None:
        return file.spec.schema(file.market).empty_table()
    start = len(_BOM) if data.startswith(_BOM) else 0
    # A zero-copy view of the bytes: pyarrow reads the buffer in place.
    return _parse_table(pa.BufferReader(pa.py_buffer(data)[start:]), planned, lambda: io.BytesIO(data))


def parse_files(
    files: Sequence[tuple[ZipSource, ArchiveFile]], *, max_inflated_bytes: int = MAX_INFLATED_BYTES
) -> list[pa.Table]:
    """`[parse_file(source, file) for source, file in files]`, with small files parsed together.

    Each small file (CSV ≤ `BATCH_FILE_BYTES`) is inflated and sniffed on its own (header check, no-rows
    files), then the bodies of files of one layout (dataset, market, label shift) are joined without their
    headers and parsed in one `pyarrow.csv.read_csv`; the table is split back by each file's line count.
    The epoch unit is decided over the batch when it agrees, and per file otherwise. Anything the joined
    parse cannot settle exactly (a bad row, a blank line, a bare CR, a count that does not add up) is parsed
    again one file at a time, so every error is the one `parse_file` raises, naming its file.
    """
    tables: list[pa.Table | None] = [None] * len(files)
    layouts: dict[tuple[str, Market, dt.timedelta | None], list[_Member]] = {}
    for index, (source, file) in enumerate(files):
        data = read_member(
            source,
            member_name(file),
            limit=BATCH_FILE_BYTES,
            max_inflated_bytes=max_inflated_bytes,
            file_name=file.file_name,
        )
        if data is None:
            tables[index] = parse_file(source, file, max_inflated_bytes=max_inflated_bytes)
            continue
        member = _member(index, data, file)
        if member is None:  # no rows, or lines a newline count cannot follow: parsed alone
            tables[index] = parse_csv(data, file)
            continue
        layouts.setdefault((file.dataset, file.market, member.plan.shift), []).append(member)
    for members in layouts.values():
        for chunk in _chunks(members):
            for member, table in zip(chunk, _parse_joined(chunk), strict=True):
                tables[member.index] = table
    assert all(table is not None for table in tables)
    return cast("list[pa.Table]", tables)


@dataclass(frozen=True)
class _Member:
    """One small file in `parse_files`: its CSV, its plan, where its rows start and how many lines they are."""

    index: int
    data: bytes
    plan: _Plan
    start: int
    lines: int


def _member(index: int, data: bytes, file: ArchiveFile) -> _Member | None:
    """The file's rows as `parse_files` joins them; None when it has no rows, or when counting its newlines
    would not count its rows (a bare CR, which pyarrow also ends a row at; blank lines at the end; no final
    newline, which would run its last line into the next file's first)."""
    plan = _sniff(data[:_SNIFF_BYTES], file, complete=len(data) < _SNIFF_BYTES)
    if plan is None:
        return None
    start = len(_BOM) if data.startswith(_BOM) else 0
    if plan.has_header:
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    if start >= len(data) or not data.endswith(b"\n") or data.endswith((b"\n\n", b"\n\r\n")):
        return None
    if data.find(b"\r", start) >= 0 and data.count(b"\r", start) != data.count(b"\r\n", start):
        return None
    return _Member(index, data, plan, start, _count_newlines(data, start))


def _count_newlines(data: bytes, start: int) -> int:
    # numpy compares 16-32 bytes an instruction; bytes.count(b"\n") looks at one byte at a time.
    return int(np.count_nonzero(np.frombuffer(data, np.uint8, offset=start) == 0x0A))


def _chunks(members: Sequence[_Member]) -> Iterator[Sequence[_Member]]:
    """Consecutive runs of members of at most `BATCH_BYTES` of CSV (at least one member each)."""
    first, size = 0, 0
    for end, member in enumerate(members):
        length = len(member.data) - member.start
        if end > first and size + length > BATCH_BYTES:
            yield members[first:end]
            first, size = end, 0
        size += length
    if first < len(members):
        yield members[first:]


def _parse_joined(chunk: Sequence[_Member]) -> list[pa.Table]:
    """The tables of one run of small files of one layout (see `parse_files`)."""
    if len(chunk) == 1:
        return [parse_csv(chunk[0].data, chunk[0].plan.file)]
    plan = chunk[0].plan
    joined = b"".join(memoryview(m.data)[m.start :] for m in chunk)
    options = dataclasses.replace(plan, has_header=False)
    try:
        table = pa_csv.read_csv(
            cast(BinaryIO, pa.BufferReader(joined)),
            read_options=options.read_options(block_size=TABLE_BLOCK_SIZE, use_threads=False),
            convert_options=plan.convert_options(),
        )
    except pa.ArrowException:
        table = None
    if table is None or table.num_rows != sum(m.lines for m in chunk):
        # A bad row or an uncounted line somewhere: each file alone says which, as parse_file would.
        return [parse_csv(m.data, m.plan.file) for m in chunk]
    columns = {name: table.column(name) for name in table.column_names}
    try:
        # One unit for the whole run when its files agree (the common case: one era per batch).
        whole = pa.Table.from_arrays(_convert(columns, plan, _UnitState(plan.label)), schema=plan.schema)
    except ParseError:
        whole = None  # units differ between files (or a file has a bad time): decided file by file below
    tables: list[pa.Table] = []
    offset = 0
    for member in chunk:
        if whole is not None:
            tables.append(whole.slice(offset, member.lines))
        else:
            own = {name: column.slice(offset, member.lines) for name, column in columns.items()}
            arrays = _convert(own, member.plan, _UnitState(member.plan.label))
            tables.append(pa.Table.from_arrays(arrays, schema=member.plan.schema))
        offset += member.lines
    return tables


def iter_csv_batches(
    data: bytes, file: ArchiveFile, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[pa.RecordBatch]:
    """Stream an already extracted CSV as `iter_batches` does."""
    yield from _read_batches(io.BytesIO(data), file, lambda: io.BytesIO(data), block_size)


# --- one file's reading plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    file: ArchiveFile
    layout: CsvLayout
    schema: pa.Schema
    has_header: bool
    shift: dt.timedelta | None

    @property
    def label(self) -> str:
        return self.file.file_name

    def read_options(self, *, block_size: int, use_threads: bool) -> pa_csv.ReadOptions:
        return pa_csv.ReadOptions(
            column_names=list(self.layout.names),
            skip_rows=1 if self.has_header else 0,
            block_size=block_size,
            use_threads=use_threads,
        )

    def convert_options(self) -> pa_csv.ConvertOptions:
        kept = self.layout.kept
        return pa_csv.ConvertOptions(
            column_types={c.name: _READ_TYPES[c.kind] for c in kept},
            include_columns=[c.name for c in kept],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            true_values=["true", "True"],
            false_values=["false", "False"],
            timestamp_parsers=[cast(str, pa_csv.ISO8601)],
        )


class _Prefixed(io.RawIOBase):
    """A stream that replays the bytes already read for sniffing, then continues with the rest."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def whole(self, limit: int) -> bytes | None:
        """Everything left, when it is at most `limit` bytes; otherwise None, and what was read is replayed."""
        wanted = max(0, limit - len(self._prefix)) + 1
        data = bytes(self._prefix) + self._rest.read(wanted)
        if len(data) <= limit:
            self._prefix = memoryview(b"")
            return data
        self._prefix = memoryview(data)
        return None

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _normalise_header(line: str) -> list[str]:
    return [name.strip().strip('"').strip().lower() for name in line.split(",")]


def _plan(stream: BinaryIO, file: ArchiveFile) -> tuple[_Plan, BinaryIO] | None:
    """Sniff the header; None when the file holds no rows at all (empty, or a header only)."""
    head = stream.read(_SNIFF_BYTES)
    plan = _sniff(head, file, complete=len(head) < _SNIFF_BYTES)
    if plan is None:
        return None
    return plan, _Prefixed(head.removeprefix(_BOM), stream)  # type: ignore[return-value]


def _sniff(head: bytes, file: ArchiveFile, *, complete: bool) -> _Plan | None:
    """The reading plan from the file's first bytes (`complete`: they are the whole file); None when the file
    holds no rows at all (empty, or a header only)."""
    spec = file.spec
    layout = spec.layout(file.market)
    body = head.removeprefix(_BOM)
    if not body.strip():
        return None
    first = body[:1]
    has_header = not (first.isdigit() or first == b"-")
    if has_header:
        line = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")
        expected = layout.header if layout.header is not None else ",".join(layout.names)
        if _normalise_header(line) != _normalise_header(expected):
            raise ParseError(
                f"{file.file_name}: unexpected header {line!r}; the {file.market.value} {spec.name} header is {expected!r}"
            )
        rest_of_head = body.split(b"\n", 1)[1] if b"\n" in body else b""
        if complete and not rest_of_head.strip():
            return None
    return _Plan(
        file=file,
        layout=layout,
        schema=spec.schema(file.market),
        has_header=has_header,
        shift=label_shift(file),
    )


# --- conversion into the lake schema ------------------------------------------------------------------


class _UnitState:
    """The epoch unit of one file, decided from its values and held for all its batches."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.unit: str | None = None

    def observe(self, columns: list[Column]) -> str | None:
        lows: list[int] = []
        highs: list[int] = []
        for column in columns:
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is not None and high is not None:
                lows.append(low)
                highs.append(high)
        if not lows:
            return self.unit
        low, high = min(lows), max(highs)
        if low >= quirks.MICROSECOND_THRESHOLD:
            unit = "us"
        elif high < quirks.MICROSECOND_THRESHOLD:
            unit = "ms"
        else:
            raise ParseError(
                f"{self.label}: epoch values mix milliseconds and microseconds ({low} ... {high}); "
                "a file is expected to use one unit"
            )
        if self.unit is not None and unit != self.unit:
            raise ParseError(f"{self.label}: epoch unit changes from {self.unit} to {unit} inside the file")
        self.unit = unit
        return unit


def _convert(columns: Mapping[str, Column], plan: _Plan, units: _UnitState) -> list[Column]:
    """Turn the parsed columns into the lake schema's columns, in schema order."""
    kept = plan.layout.kept
    epoch_names = [c.name for c in kept if c.kind is ColumnKind.EPOCH_TIME]
    unit = units.observe([columns[n] for n in epoch_names]) if epoch_names else None
    out: list[Column] = []
    time_column = plan.file.spec.time_column
    for column in kept:
        values = columns[column.name]
        if column.kind is ColumnKind.EPOCH_TIME:
            if unit == "ms":
                values = pc.multiply(values, pa.scalar(1000, pa.int64()))
            values = values.cast(TIMESTAMP)
        elif column.kind in (ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE):
            values = values.cast(TIMESTAMP)  # naive values are UTC: tagging them changes no value
        if column.name == time_column:
            if values.null_count:
                raise ParseError(f"{plan.label}: {values.null_count} row(s) have an empty {time_column}")
            if plan.shift is not None:
                values = pc.subtract(values, pa.scalar(plan.shift, pa.duration("us")))
        out.append(values)
    return out


# --- reading, with errors translated once -------------------------------------------------------------


def _bad_line(reopen: Callable[[], BinaryIO], plan: _Plan) -> str:
    """Locate the first line whose field count is wrong (slow path, only after pyarrow failed)."""
    expected = len(plan.layout.columns)
    with reopen() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        for number, row in enumerate(csv.reader(text), start=1):
            if number == 1 and plan.has_header:
                continue
            if row and len(row) != expected:
                return f"line {number} has {len(row)} fields, expected {expected}: {','.join(row)[:200]!r}"
    return "a line has the wrong number of fields"


def _parse_error(error: BaseException, plan: _Plan, reopen: Callable[[], BinaryIO]) -> ParseError:
    if isinstance(error, ZIP_READ_ERRORS):
        return ParseError(f"{plan.label}: the zip archive is corrupt ({error})")
    message = str(error)
    if "columns, got" in message:
        return ParseError(f"{plan.label}: {_bad_line(reopen, plan)}")
    return ParseError(f"{plan.label}: {message}")


def _read_table(stream: BinaryIO, file: ArchiveFile, reopen: Callable[[], BinaryIO]) -> pa.Table:
    try:
        planned = _plan(stream, file)
    except ZIP_READ_ERRORS as error:
        raise ParseError(f"{file.file_name}: the zip archive is corrupt ({error})") from error
    if planned is None:
        return file.spec.schema(file.market).empty_table()
    plan, body = planned
    try:
        whole = body.whole(IN_MEMORY_BYTES) if isinstance(body, _Prefixed) else None
    except _READ_ERRORS as error:
        raise _parse_error(error, plan, reopen) from error
    return _parse_table(cast(BinaryIO, pa.BufferReader(whole)) if whole is not None else body, plan, reopen)


def _parse_table(source: Any, plan: _Plan, reopen: Callable[[], BinaryIO]) -> pa.Table:
    try:
        # One thread: the sync already ingests on every core, and bench/parse.py measured a single-threaded
        # parse faster per row than pyarrow's thread pool on these files (2.6 vs 2.0 M rows/s).
        table = pa_csv.read_csv(
            source,
            read_options=plan.read_options(block_size=TABLE_BLOCK_SIZE, use_threads=False),
            convert_options=plan.convert_options(),
        )
    except _READ_ERRORS as error:
        raise _parse_error(error, plan, reopen) from error
    columns = {name: table.column(name) for name in table.column_names}
    arrays = _convert(columns, plan, _UnitState(plan.label))
    return pa.Table.from_arrays(arrays, schema=plan.schema)


def _read_batches(
    stream: BinaryIO, file: ArchiveFile, reopen: Callable[[], BinaryIO], block_size: int
) -> Iterator[pa.RecordBatch]:
    try:
        planned = _plan(stream, file)
    except ZIP_READ_ERRORS as error:
        raise ParseError(f"{file.file_name}: the zip archive is corrupt ({error})") from error
    if planned is None:
        return
    plan, body = planned
    units = _UnitState(plan.label)
    try:
        reader = pa_csv.open_csv(
            body,
            read_options=plan.read_options(block_size=block_size, use_threads=False),
            convert_options=plan.convert_options(),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            if batch.num_rows == 0:
                continue
            columns = {name: batch.column(name) for name in batch.schema.names}
            arrays = _convert(columns, plan, units)
            yield pa.RecordBatch.from_arrays(cast("list[pa.Array[Any]]", arrays), schema=plan.schema)
    except _READ_ERRORS as error:
        raise _parse_error(error, plan, reopen) from error
