"""Reading one dataset's partitions for some symbols and a time range: `load_table`.

Only the partition files that can hold the range are opened (one a month for bar-like datasets, one a day for
tick-like ones; DESIGN.md "Storage"), each with Arrow directly (memory-mapped, one thread per file): for a
year of one symbol that is a dozen small files, where a DuckDB query's fixed cost would dominate. Many files
are read on a process-wide thread pool, one file per task, since a partition's decoding (zstd, one page per
column) is the cost and Arrow releases the GIL for it. The `symbol` comes from the path. Partitions are
sorted by time and de-duplicated when written (storage.parquet), so reading each symbol's files in period
order, symbols in name order, yields rows sorted by (symbol, time) with no sort. The coverage check's
inputs come from `LakeState`, cached while the lake database is unchanged.

A partition the lake holds (per `file_state`) whose file is gone, or whose size or mtime differ from the
lake's record of it (storage.inventory, one `os.stat` per file read), is not read: its held days are
reported in `missing`, like days never fetched, and `binance-lake sync` of those days rebuilds it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
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
from binance_lake.core.partitions import partition_for_day, period_file_name
from binance_lake.core.timerange import TimeRange, iter_days, iter_months, month_end
from binance_lake.load.connection import LakeState
from binance_lake.load.coverage import Coverage, Facts, coverage, expected_days, facts, series_of
from binance_lake.load.missing import Gap, Missing
from binance_lake.load.request import LoadRequest
from binance_lake.storage import objects
from binance_lake.storage.compaction import Compacted, compacted_path, open_compacted, usable
from binance_lake.storage.inventory import damaged_message, stat_of

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
    return list(_names_between(request.spec.granularity, first, last))


# A universe asks the same periods for hundreds of symbols: the names are worked out once.
@functools.lru_cache(maxsize=4096)
def _names_between(granularity: Granularity, first: dt.date, last: dt.date) -> tuple[str, ...]:
    periods = iter_months(first, last) if granularity is Granularity.MONTH else iter_days(first, last)
    return tuple(period_file_name(p, granularity) for p in periods)


def partition_files(
    root: Path, request: LoadRequest, ranges: Ranges | None = None, found: Facts | None = None
) -> dict[str, list[Path]]:
    """The existing partition files that can hold each symbol's rows in the range (or in its own range of
    `ranges`), in time order. A symbol whose directory holds any partition has an entry, maybe empty.
    In an object-storage lake the lake's record of its partitions (`found`) says which exist: the bucket is
    never listed (storage/objects.py)."""
    remote = objects.store_of(root) is not None
    found_files: dict[str, list[Path]] = {}
    for symbol in request.symbols:
        first = partition_for_day(
            request.dataset, request.market, request.interval, symbol, request.range.first_day
        )
        directory = root / first.directory
        if remote:
            records = found.partitions.get((series_of(request), symbol), {}) if found is not None else {}
            names = {_period_name(request, period) for period in records}
        else:
            try:
                names = set(os.listdir(directory))  # noqa: PTH208 - names only, no Path per entry
            except (FileNotFoundError, NotADirectoryError):
                continue
        if not names:
            continue
        span = ranges.get(symbol, request.range) if ranges is not None else request.range
        wanted = _period_names(request, span.first_day, span.last_day) if span is not None else []
        found_files[symbol] = [directory / n for n in wanted if n in names]
    return found_files


def _read_file(source: Path | Compacted, symbol: str, request: LoadRequest, span: TimeRange) -> pa.Table:
    if isinstance(source, Compacted):
        try:
            table = source.read().select(list(request.columns))
        except KeyError as error:
            raise StorageError(
                f"the compacted year {source.path} lacks a column ({error}); run `binance-lake compact --force`"
            ) from error
    else:
        try:
            with pq.ParquetFile(
                objects.source(source), memory_map=True, pre_buffer=objects.pre_buffer(source)
            ) as parquet:
                table = parquet.read(columns=list(request.columns), use_threads=False)
        except (OSError, pa.ArrowException) as error:
            # A partition without a record (written before records existed) can still be damaged.
            raise StorageError(damaged_message(source, error)) from error
    times = table.column(request.time_column)
    # Partitions are whole months or days (a compacted year, whole months); only the first and last can stick
    # out of the range.
    if table.num_rows and (times[0].as_py() < span.start or times[-1].as_py() >= span.end):
        keep = pc.and_(
            pc.greater_equal(times, pa.scalar(span.start, times.type)),
            pc.less(times, pa.scalar(span.end, times.type)),
        )
        table = table.filter(keep)
    return table.add_column(0, "symbol", pa.repeat(pa.scalar(symbol, pa.string()), table.num_rows))


def _sources(request: LoadRequest, paths: Sequence[Path], span: TimeRange) -> list[Path | Compacted]:
    """The files to read for one symbol's `paths` (in period order): each year's compacted file
    (storage.compaction) where it still stands for exactly those partitions, and the partitions otherwise."""
    # An object-storage lake keeps no compacted years (its partitions are objects, compaction is local).
    if request.spec.granularity is not Granularity.MONTH or len(paths) < 2 or objects.located(paths[0]):
        return list(paths)
    years: dict[str, list[Path]] = {}
    for path in paths:
        years.setdefault(path.name[:4], []).append(path)
    out: list[Path | Compacted] = []
    for year, group in years.items():
        target = compacted_path(group[0]) if len(group) >= 2 else None
        compacted = open_compacted(target) if target is not None else None
        first = max(span.first_day, dt.date(int(year), 1, 1))
        last = min(span.last_day, dt.date(int(year), 12, 31))
        if compacted is None or not usable(compacted, _period_names(request, first, last), group):
            out.extend(group)
            continue
        held = sorted(compacted.sources)
        out.extend(p for p in group if p.name < held[0])
        out.append(compacted)
        out.extend(p for p in group if p.name > held[-1])
    return out


def _size(source: Path | Compacted) -> int:
    return (source.path if isinstance(source, Compacted) else source).stat().st_size


Part = tuple[LoadRequest, Mapping[str, Sequence[Path]], Ranges | None]


def read_many(parts: Sequence[Part]) -> list[pa.Table]:
    """`read` for several requests at once, their files decoded together on the pool."""
    asked: list[tuple[int, Sequence[Path], str, LoadRequest, TimeRange]] = []
    for n, (request, files, ranges) in enumerate(parts):
        for symbol in sorted(files):
            span = ranges.get(symbol, request.range) if ranges is not None else request.range
            if span is not None:
                asked.append((n, files[symbol], symbol, request, span))
    # Finding each symbol's compacted years opens a file per year (~0.1 ms): on the pool when there are many.
    if len(asked) > 8:
        found = list(_readers().map(lambda a: _sources(a[3], a[1], a[4]), asked))
    else:
        found = [_sources(request, paths, span) for _, paths, _, request, span in asked]
    jobs = [
        (n, source, symbol, request, span)
        for (n, _, symbol, request, span), sources in zip(asked, found, strict=True)
        for source in sources
    ]
    try:
        # Objects are always read on the pool: each costs a round trip, whatever its size.
        if not any(isinstance(job[1], Path) and objects.located(job[1]) for job in jobs[:1]) and (
            sum(_size(job[1]) for job in jobs) <= SMALL_READ_BYTES
        ):
            tables = [_read_file(path, symbol, request, span) for _, path, symbol, request, span in jobs]
        else:
            tables = list(_readers().map(lambda job: _read_file(*job[1:]), jobs))
    except FileNotFoundError as error:
        raise StorageError(damaged_message(Path(error.filename or ""), error)) from error
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
    found = facts(state, [request, *together])
    covered = coverage(found, request)
    files = partition_files(root, reading, ranges, found)
    covered, files = without_lost(found, request, covered, files, ranges)
    return Planned(request, covered, files, reading, ranges)


def _period_name(request: LoadRequest, period: dt.date) -> str:
    return period_file_name(period, request.spec.granularity)


def _period_of(request: LoadRequest, name: str) -> dt.date | None:
    return _period_of_name(request.spec.granularity, name)


@functools.lru_cache(maxsize=65536)
def _period_of_name(granularity: Granularity, name: str) -> dt.date | None:
    stem = name.removesuffix(".parquet")
    try:
        if granularity is Granularity.MONTH:
            return dt.date.fromisoformat(stem + "-01")
        return dt.date.fromisoformat(stem)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _periods(
    granularity: Granularity, first: dt.date, last: dt.date
) -> tuple[tuple[str, dt.date, dt.date], ...]:
    """(file name, first day, last day) of each partition over `first .. last`, clipped to it."""
    if granularity is Granularity.MONTH:
        return tuple(
            (period_file_name(m, granularity), max(first, m), min(last, month_end(m)))
            for m in iter_months(first, last)
        )
    return tuple((period_file_name(d, granularity), d, d) for d in iter_days(first, last))


def without_lost(
    found: Facts,
    request: LoadRequest,
    covered: Coverage,
    files: dict[str, list[Path]],
    ranges: Ranges | None = None,
) -> tuple[Coverage, dict[str, list[Path]]]:
    """Held partitions whose file is gone, or differs from the lake's record of it (size, mtime_ns: one
    stat per recorded file), are dropped from `files` and their held days added to the coverage's missing."""
    series = series_of(request)
    days = expected_days(request)
    lost: dict[str, list[tuple[dt.date, dt.date]]] = {}
    kept_files = files
    for symbol in request.symbols:
        records = found.partitions.get((series, symbol), {})
        present = files.get(symbol, [])
        damaged = set()
        checked = [(p, period) for p in present if (period := _period_of(request, p.name)) in records]
        # An object's stat is a round trip: a symbol's are asked together.
        remote = bool(checked) and objects.located(checked[0][0]) is not None
        seen = objects.stats([p for p, _ in checked]) if remote else [stat_of(p) for p, _ in checked]
        for (path, period), stat in zip(checked, seen, strict=True):
            if period is not None and stat != records[period]:
                damaged.add(path.name)
        if damaged:
            kept_files = dict(kept_files) if kept_files is files else kept_files
            kept_files[symbol] = [p for p in present if p.name not in damaged]
        spans = found.spans.get((series, symbol))
        span = ranges.get(symbol, request.range) if ranges is not None else request.range
        if not spans or days is None or span is None:
            continue
        lo, hi = max(days[0], span.first_day), min(days[1], span.last_day)
        names = {p.name for p in present} - damaged
        for first, last in sorted(spans):
            first, last = max(first, lo), min(last, hi)
            if first > last:
                continue
            for name, a, b in _periods(request.spec.granularity, first, last):
                if name not in names:
                    lost.setdefault(symbol, []).append((a, b))
    if not lost:
        return covered, kept_files
    return dataclasses.replace(covered, missing=_merged(covered.missing, request, lost)), kept_files


def _merged(
    missing: Missing, request: LoadRequest, lost: dict[str, list[tuple[dt.date, dt.date]]]
) -> Missing:
    """`missing` with the lost runs added, touching and overlapping runs of a symbol merged."""
    interval = series_of(request)[1]
    runs: dict[str, list[tuple[dt.date, dt.date]]] = {}
    others: list[Gap] = []
    for gap in missing.gaps:
        if gap.dataset == request.dataset and gap.interval == interval and gap.symbol in lost:
            runs.setdefault(gap.symbol, []).append((gap.first_day, gap.last_day))
        else:
            others.append(gap)
    gaps = list(others)
    one = dt.timedelta(days=1)
    for symbol, spans in lost.items():
        merged: list[tuple[dt.date, dt.date]] = []
        for first, last in sorted([*runs.get(symbol, []), *spans]):
            if merged and first <= merged[-1][1] + one:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        gaps.extend(Gap(request.dataset, symbol, f, l_, interval) for f, l_ in merged)
    return Missing(tuple(sorted(gaps)))


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
