"""A streaming read of one load request, for exporters: `iter_batches(root, request)`.

The same request as `load_table` (load.request), the same rows, columns and types (`symbol` first, then the
requested lake columns) in the same (symbol, time) order, handed over as Arrow record batches instead of one
table, so a year of ticks can be copied into PostgreSQL or written as Qlib bins without holding it in memory.

    batches = iter_batches(root, request, batch_rows=65_536)    # plans now: UsageError for a symbol never held
    batches.missing      # what the lake lacks of the request (a `Missing`), known before any row is read
    batches.schema       # the columns and types of every batch, also when there are no rows
    for batch in batches:                 # pa.RecordBatch, `batch_rows` rows each but the last
        ...
    batches.reader()     # the same as a pa.RecordBatchReader (DuckDB, ADBC ingest, Parquet / IPC writers);
                         # its schema metadata carries `missing` as an Arrow frame's does (load.missing)

The plan (coverage, the files to read, what is missing) is made once, when `iter_batches` is called, from the
same facts `load_table` uses: held partitions that are gone or differ from the lake's record are not read and
their days are in `missing`. Reading starts at the first batch and opens one partition file at a time
(one a month for bar-like datasets, one a day for tick-like ones), decoding `batch_rows` rows at a time, so
memory is a few batches (the one handed over, the one being joined, the rows waiting for the next) plus the
open file's decoding buffers, whatever the size of the result (docs/benchmarks.md). Each iteration
reads the files again; a file that vanished or broke since the plan is a `StorageError` naming the sync that
rebuilds it, as in `load_table`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.timerange import TimeRange
from binance_lake.load.connection import LakeState
from binance_lake.load.missing import METADATA_KEY, Missing
from binance_lake.load.reader import Planned, _readers, not_held_message, plan, result_schema
from binance_lake.load.request import LoadRequest
from binance_lake.storage import objects
from binance_lake.storage.inventory import damaged_message

_Rows = TypeVar("_Rows", pa.RecordBatch, pa.Table)

# Rows per batch unless asked otherwise: large enough that per-batch costs (a COPY round trip, a write call)
# vanish, small enough (a few MB for klines) to be nothing beside a partition.
DEFAULT_BATCH_ROWS = 64 * 1024


@dataclass(frozen=True)
class Batches:
    """The planned stream of one request: iterate it for record batches; `missing` and `schema` up front."""

    planned: Planned
    batch_rows: int
    read_ahead: int = 0  # partitions decoded ahead on the reader pool (0: one at a time, in this thread)

    @property
    def schema(self) -> pa.Schema:
        return result_schema(self.planned.request)

    @property
    def missing(self) -> Missing:
        return self.planned.coverage.missing

    @property
    def absent(self) -> tuple[str, ...]:
        """Symbols the lake has never held (only when planned with `require=False`)."""
        return self.planned.absent

    @property
    def unlisted(self) -> tuple[str, ...]:
        """Symbols with asked days the catalog has not listed (see `load.coverage.Coverage`)."""
        return self.planned.coverage.unlisted

    @property
    def files(self) -> int:
        """How many partition files the stream reads (for progress)."""
        return sum(len(paths) for paths in self.planned.files.values())

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return rebatch(self._pieces(), self.batch_rows)

    def symbol_table(self, symbol: str) -> pa.Table:
        """One symbol's rows as one table (schema `schema`): each of its partitions read whole, in one call
        (a fraction of `iter`'s per-batch cost for small partitions; exporters read symbols ahead with it)."""
        request = self.planned.reading
        parts = [_read_whole(path, request) for path in self.planned.files.get(symbol, [])]
        if not parts:
            return self.schema.empty_table()
        table = _within(pa.concat_tables(parts), request.time_column, request.range)  # chunks kept: no copy
        symbols = pa.repeat(pa.scalar(symbol, pa.string()), table.num_rows)
        return table.add_column(0, "symbol", symbols).select(self.schema.names).cast(self.schema)

    def reader(self) -> pa.RecordBatchReader:
        """The stream as a `pa.RecordBatchReader`, `missing` in its schema metadata (key
        `binance_lake.missing`, as on the Arrow frames `load` returns)."""
        schema = self.schema.with_metadata({METADATA_KEY: self.missing.to_json().encode()})
        return pa.RecordBatchReader.from_batches(
            schema, (batch.replace_schema_metadata(schema.metadata) for batch in self)
        )

    def _pieces(self) -> Iterator[pa.RecordBatch]:
        request = self.planned.reading
        schema = self.schema
        files = [
            (symbol, path) for symbol in sorted(self.planned.files) for path in self.planned.files[symbol]
        ]
        if self.read_ahead < 1:
            for symbol, path in files:
                yield from _read_partition(path, symbol, request, schema, self.batch_rows)
            return
        # Up to `read_ahead` partitions decode on the reader pool while the caller consumes the earlier ones
        # (Arrow releases the GIL), in order; memory grows by at most that many partitions.
        pending: collections.deque[Future[list[pa.RecordBatch]]] = collections.deque()
        queued = iter(files)
        pool = _readers()

        def read(symbol: str, path: Path) -> list[pa.RecordBatch]:
            return list(_read_partition(path, symbol, request, schema, self.batch_rows))

        def submit() -> None:
            for symbol, path in queued:
                pending.append(pool.submit(read, symbol, path))
                return

        try:
            for _ in range(self.read_ahead):
                submit()
            while pending:
                batches = pending.popleft().result()
                submit()
                yield from batches
        finally:
            for future in pending:
                future.cancel()


def iter_batches(
    root: Path,
    request: LoadRequest,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    require: bool = True,
    read_ahead: int = 0,
) -> Batches:
    """Plan `request` and return its stream (see the module docstring). With `require`, symbols the lake has
    never held are a `UsageError` that says how to fetch them, as in `load_table`; otherwise they are in
    `Batches.absent`. `read_ahead` partitions are decoded ahead on the reader pool (an exporter's choice:
    faster on several cores, that many partitions more memory)."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise UsageError(f"batch_rows must be a positive number of rows, not {batch_rows!r}")
    with LakeState(root) as state:
        planned = plan(root, state, request)
    if require and planned.absent:
        raise UsageError(not_held_message(root, request, planned.absent))
    return Batches(planned, batch_rows, max(0, read_ahead))


def _read_partition(
    path: Path, symbol: str, request: LoadRequest, schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """One partition's rows inside the request's range, `symbol` first, cast to `schema`, decoded
    `batch_rows` rows at a time."""
    span = request.range
    symbols = pa.scalar(symbol, pa.string())
    try:
        with pq.ParquetFile(
            objects.source(path), memory_map=True, pre_buffer=objects.pre_buffer(path)
        ) as parquet:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(request.columns)):
                chosen = _within(batch, request.time_column, span)
                if chosen.num_rows == 0:
                    continue
                arrays = [pa.repeat(symbols, chosen.num_rows), *chosen.columns]
                yield (
                    pa.RecordBatch.from_arrays(arrays, names=["symbol", *chosen.schema.names])
                    .select(schema.names)
                    .cast(schema)
                )
    except (OSError, pa.ArrowException) as error:  # gone or broken since the plan
        raise StorageError(damaged_message(path, error)) from error
    except KeyError as error:  # a partition without one of the requested columns
        raise StorageError(
            f"the lake's partitions disagree on their columns: {path} lacks {error}"
        ) from error


def _read_whole(path: Path, request: LoadRequest) -> pa.Table:
    """One partition's requested columns, the errors as `_read_partition` words them."""
    try:
        with pq.ParquetFile(objects.source(path), memory_map=True) as parquet:
            return parquet.read(columns=list(request.columns), use_threads=False)
    except (OSError, pa.ArrowException) as error:
        raise StorageError(damaged_message(path, error)) from error
    except KeyError as error:
        raise StorageError(
            f"the lake's partitions disagree on their columns: {path} lacks {error}"
        ) from error


def _within(batch: _Rows, column: str, span: TimeRange) -> _Rows:
    """The rows of a time-sorted batch inside `[span.start, span.end)`; only a partition's first and last
    batches can stick out of the range, so most are returned as they are."""
    if batch.num_rows == 0:
        return batch
    times = batch.column(column)
    if times[0].as_py() >= span.start and times[-1].as_py() < span.end:
        return batch
    keep = pc.and_(
        pc.greater_equal(times, pa.scalar(span.start, times.type)),
        pc.less(times, pa.scalar(span.end, times.type)),
    )
    return batch.filter(keep)


def rebatch(pieces: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """`pieces` (one schema) cut and joined into batches of exactly `rows` rows, the last one shorter; order
    kept. A batch within one piece is a zero-copy slice of it; only a batch spanning pieces is copied, and
    fewer than `rows` rows wait between batches."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for piece in pieces:
        offset = 0
        while count + piece.num_rows - offset >= rows:
            take = rows - count
            yield _joined([*pending, piece.slice(offset, take)])
            pending, count, offset = [], 0, offset + take
        if offset < piece.num_rows:
            pending.append(piece.slice(offset))
            count += piece.num_rows - offset
    if count:
        yield _joined(pending)


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    # One copy into contiguous columns (what `pa.concat_batches` does; the type stubs lack it).
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
