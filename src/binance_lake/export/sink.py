"""The seam every exporter plugs into: what it asks the read side for, and what it reports back.

An exporter is a function `export_x(root, request, open_stream) -> ExportReport`. It asks for rows with a
`SeriesAsk` (one dataset series, some symbols, a half-open time range); `open_stream(ask)` answers with a
`RowStream`: Arrow record batches in (symbol, time) order with `symbol` first and the lake's columns, the
days the lake lacks in `missing`. `facade/export.py` provides `open_stream` over `load.stream.iter_batches`;
tests may hand in any iterable of batches. `by_symbol` regroups the stream one symbol at a time, which is
what per-instrument formats (Qlib) need, holding one symbol's rows at most; a stream that can read whole
symbols itself (`SymbolTables`, as the facade's does: a few symbols ahead, in parallel) hands them over
directly. `write_atomic` publishes a file whole; `write_files_atomic` many files of one folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from binance_lake.core.errors import StorageError


class MissingDays(Protocol):
    """What the lake lacks of an ask (`load.missing.Missing` is one)."""

    def __bool__(self) -> bool: ...

    def summary(self, limit: int = 5) -> str: ...


class RowStream(Protocol):
    """Record batches of one ask (`load.stream.Batches` is one)."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def missing(self) -> MissingDays: ...

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...


@runtime_checkable
class SymbolTables(Protocol):
    """A `RowStream` that can also hand its rows over one symbol at a time, read ahead in parallel
    (`facade.export.SymbolStream` is one): `by_symbol` uses it instead of regrouping the batches."""

    def tables(self) -> Iterator[tuple[str, pa.Table]]: ...


@dataclass(frozen=True)
class SeriesAsk:
    """Rows of one series (market, dataset, interval) for `symbols` over `[start, end)`, only `columns`
    (None: all) — the request an exporter makes of the read side."""

    market: str
    dataset: str
    interval: str | None
    symbols: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    columns: tuple[str, ...] | None = None


OpenStream = Callable[[SeriesAsk], RowStream]


@dataclass
class ExportReport:
    """What an export wrote: files written in full, files appended to, files left as they were, the
    symbols and rows exported, where, and what the lake lacked (one summary line per series, empty when
    nothing)."""

    out: Path
    files_written: int = 0
    files_appended: int = 0
    files_unchanged: int = 0
    symbols: list[str] = field(default_factory=list)
    rows: int = 0
    missing: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """The report as one record (for `--format json|csv` and the table)."""
        return {
            "out": str(self.out),
            "symbols": len(self.symbols),
            "rows": self.rows,
            "files_written": self.files_written,
            "files_appended": self.files_appended,
            "files_unchanged": self.files_unchanged,
            **self.details,
            "missing": self.missing,
        }

    def note_missing(self, stream: RowStream, what: str) -> None:
        if stream.missing:
            self.missing.append(f"{what}: {stream.missing.summary()}")


def by_symbol(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[str, pa.Table]]:
    """The stream's rows one symbol at a time, in the stream's order (the stream is sorted by symbol, so
    each symbol comes once); only one symbol's rows are held (a few more when the stream reads symbols
    ahead, `SymbolTables`)."""
    if isinstance(batches, SymbolTables):
        yield from batches.tables()
        return
    current: str | None = None
    pending: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pieces = [
            (str(value), batch.slice(start, end - start)) for value, start, end in runs(batch.column(0))
        ]
        for symbol, piece in pieces:
            if symbol != current:
                if current is not None and pending:
                    yield current, pa.Table.from_batches(pending)
                current, pending = symbol, []
            pending.append(piece)
    if current is not None and pending:
        yield current, pa.Table.from_batches(pending)


def runs(values: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[tuple[Any, int, int]]:
    """The runs of equal values of a sorted array: (value, start, end) with `end` excluded."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(array) == 0:
        return []
    encoded = array.dictionary_encode()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    cuts = (np.flatnonzero(np.diff(indices)) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, len(array)]
    return [(encoded.dictionary[int(indices[a])].as_py(), a, b) for a, b in zip(starts, ends, strict=True)]


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` at `path` atomically: a temp file beside it, then `os.replace` (a reader sees the old
    file or the new one, never half of one)."""
    write_files_atomic(str(path.parent), {path.name: [data]})


def write_files_atomic(folder: str, files: Mapping[str, Sequence[bytes | memoryview]]) -> None:
    """Write each of `files` (name -> the pieces of its content) in `folder` atomically, as `write_atomic`
    does, for many files at once: the folder is made once, each file is one `writev` into a temp name (this
    process's and thread's) and one `os.replace` (no Path objects, no random names: an export writes
    thousands). A temp file is removed whatever stops the write, an interrupt included."""
    try:
        os.makedirs(folder, exist_ok=True)  # noqa: PTH103 - strings, not Path objects (see above)
    except OSError as error:
        raise StorageError(f"cannot write {folder}: {error.strerror or error}") from None
    tag = f"{os.getpid()}-{threading.get_ident()}"
    for name, pieces in files.items():
        path = f"{folder}/{name}"
        temp = f"{folder}/.{name}.{tag}.tmp"
        try:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(handle, pieces)
            finally:
                os.close(handle)
            os.replace(temp, path)  # noqa: PTH105
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # noqa: PTH108
            if isinstance(error, OSError):
                raise StorageError(f"cannot write {path}: {error.strerror or error}") from None
            raise


def _write_all(handle: int, pieces: Sequence[bytes | memoryview]) -> None:
    """`os.writev` until every byte is written (a short write continues where it stopped)."""
    views = [memoryview(p).cast("B") for p in pieces]
    while views:
        written = os.writev(handle, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
