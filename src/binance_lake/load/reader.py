"""Reading one dataset's partitions for some symbols and a time range: `load_table`.

Only the partition files that can hold the range are opened (one a month for bar-like datasets, one a day for
tick-like ones; DESIGN.md "Storage"), each with Arrow directly (memory-mapped, one thread per file): for a
year of one symbol that is a dozen small files, where a DuckDB query's fixed cost would dominate. Many files
are read on a process-wide thread pool, one file per task, since a partition's decoding (zstd, one page per
column) is the cost and Arrow releases the GIL for it. The `symbol` comes from the path. Partitions are
sorted by time and de-duplicated when written (storage.parquet), so reading each symbol's files in period
order, symbols in name order, yields rows sorted by (symbol, time) with no sort. The coverage check's
inputs come from `LakeState`, cached while the lake database is unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.datasets import Granularity
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.timerange import TimeRange, iter_days, iter_months
from binance_lake.load.connection import LakeState
from binance_lake.load.coverage import Coverage, coverage, facts
from binance_lake.load.missing import Missing
from binance_lake.load.request import LoadRequest

# Reads up to this many bytes of Parquet are decoded in the calling thread; bigger ones on the pool, where
# handing a file to a thread costs less than decoding it.
SMALL_READ_BYTES = 256 * 1024

Ranges = Mapping[str, TimeRange | None]  # per symbol: the part of the range to read (None: nothing)

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _readers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="lake-read"
            )
        return _pool


@dataclass(frozen=True)
class Loaded:
    """Rows of a request (Arrow, `symbol` first, sorted by symbol and time) and what the lake lacked."""

    table: pa.Table
    missing: Missing
    absent: tuple[str, ...] = ()  # symbols the lake has never held (only when not required)
    unlisted: tuple[str, ...] = ()  # symbols with asked days the catalog has not listed (see Coverage)


def result_schema(request: LoadRequest) -> pa.Schema:
    lake = request.spec.schema(request.market)
    return pa.schema([pa.field("symbol", pa.string()), *(lake.field(c) for c in request.columns)])


def _period_names(request: LoadRequest, first: dt.date, last: dt.date) -> list[str]:
    if request.spec.granularity is Granularity.MONTH:
        return [f"{m.year:04d}-{m.month:02d}.parquet" for m in iter_months(first, last)]
    return [f"{d.isoformat()}.parquet" for d in iter_days(first, last)]


def partition_files(root: Path, request: LoadRequest, ranges: Ranges | None = None) -> dict[str, list[Path]]:
    """The existing partition files that can hold each symbol's rows in the range (or in its own range of
    `ranges`), in time order. A symbol whose directory holds any partition has an entry, maybe empty."""
    found: dict[str, list[Path]] = {}
    for symbol in request.symbols:
        first = partition_for_day(
            request.dataset, request.market, request.interval, symbol, request.range.first_day
        )
        directory = root / first.directory
        try:
            names = set(os.listdir(directory))  # noqa: PTH208 - names only, no Path per entry
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not names:
            continue
        span = ranges.get(symbol, request.range) if ranges is not None else request.range
        wanted = _period_names(request, span.first_day, span.last_day) if span is not None else []
        found[symbol] = [directory / n for n in wanted if n in names]
    return found


def _read_file(path: Path, symbol: str, request: LoadRequest, span: TimeRange) -> pa.Table:
    with pq.ParquetFile(path, memory_map=True) as parquet:
        table = parquet.read(columns=list(request.columns), use_threads=False)
    times = table.column(request.time_column)
    # Partitions are whole months or days; only the first and last can stick out of the range.
    if table.num_rows and (times[0].as_py() < span.start or times[-1].as_py() >= span.end):
        keep = pc.and_(
            pc.greater_equal(times, pa.scalar(span.start, times.type)),
            pc.less(times, pa.scalar(span.end, times.type)),
        )
        table = table.filter(keep)
    return table.add_column(0, "symbol", pa.repeat(pa.scalar(symbol, pa.string()), table.num_rows))


Part = tuple[LoadRequest, Mapping[str, Sequence[Path]], Ranges | None]


def read_many(parts: Sequence[Part]) -> list[pa.Table]:
    """`read` for several requests at once, their files decoded together on the pool."""
    jobs: list[tuple[int, Path, str, LoadRequest, TimeRange]] = []
    for n, (request, files, ranges) in enumerate(parts):
        for symbol in sorted(files):
            span = ranges.get(symbol, request.range) if ranges is not None else request.range
            if span is not None:
                jobs.extend((n, path, symbol, request, span) for path in files[symbol])
    try:
        if sum(job[1].stat().st_size for job in jobs) <= SMALL_READ_BYTES:
            tables = [_read_file(path, symbol, request, span) for _, path, symbol, request, span in jobs]
        else:
            tables = list(_readers().map(lambda job: _read_file(*job[1:]), jobs))
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot read the lake's partitions: {error}") from error
    grouped: list[list[pa.Table]] = [[] for _ in parts]
    for job, table in zip(jobs, tables, strict=True):
        grouped[job[0]].append(table)
    out = []
    for (request, _, _), chunks in zip(parts, grouped, strict=True):
        schema = result_schema(request)
        if not chunks:
            out.append(schema.empty_table())
            continue
        try:
            table = pa.concat_tables(chunks)
        except pa.ArrowInvalid as error:
            raise StorageError(f"the lake's partitions disagree on their columns: {error}") from error
        out.append(table.select(schema.names).cast(schema))
    return out


def read(files: Mapping[str, Sequence[Path]], request: LoadRequest, ranges: Ranges | None = None) -> pa.Table:
    """The rows of each symbol's `files` inside the request's range (or the symbol's own range in
    `ranges`), `symbol` first, sorted by (symbol, time)."""
    return read_many([(request, files, ranges)])[0]


@dataclass(frozen=True)
class Planned:
    """A request's coverage and the files to read for it."""

    request: LoadRequest
    coverage: Coverage
    files: dict[str, list[Path]]
    reading: LoadRequest
    ranges: Ranges | None = None

    @property
    def absent(self) -> tuple[str, ...]:
        return tuple(s for s in self.request.symbols if s not in self.coverage.held and s not in self.files)

    def part(self) -> Part:
        return (self.reading, self.files, self.ranges)


def plan(
    root: Path,
    state: LakeState,
    request: LoadRequest,
    *,
    lookback: dt.timedelta = dt.timedelta(0),
    ranges: Ranges | None = None,
    together: Sequence[LoadRequest] = (),
) -> Planned:
    """What to read for `request` (`lookback` earlier too) and what the lake lacks of it. `together` are
    the other requests of the same call, so one coverage query serves them all."""
    reading = request.with_range(TimeRange(request.range.start - lookback, request.range.end))
    covered = coverage(facts(state, [request, *together]), request)
    return Planned(request, covered, partition_files(root, reading, ranges), reading, ranges)


def load_table(
    root: Path, request: LoadRequest, *, require: bool = True, lookback: dt.timedelta = dt.timedelta(0)
) -> Loaded:
    """Load a request. With `require`, symbols the lake has never held are a `UsageError` that says how to
    fetch them; otherwise they are returned in `Loaded.absent` (and their days in `missing`).

    `lookback` also reads rows that far before the range (for as-of joins), without reporting those days.
    """
    with LakeState(root) as state:
        planned = plan(root, state, request, lookback=lookback)
    return finish(root, planned, require=require)


def finish(root: Path, planned: Planned, *, require: bool, table: pa.Table | None = None) -> Loaded:
    """Check `require` and read the planned files (unless `table` was read already)."""
    absent = planned.absent
    if require and absent:
        raise UsageError(not_held_message(root, planned.request, absent))
    if table is None:
        table = read(planned.files, planned.reading, planned.ranges)
    return Loaded(table, planned.coverage.missing, absent, planned.coverage.unlisted)


def not_held_message(root: Path, request: LoadRequest, absent: tuple[str, ...]) -> str:
    series = f"{request.dataset} {request.interval.value}" if request.interval else request.dataset
    return (
        f"the lake at {root} holds no {series} data for {', '.join(absent)} in market {request.market.value}; "
        f"fetch it with: {request.sync_hint(absent)}"
    )
