"""Qlib `.bin` datasets from the lake's klines: `export_qlib(root, request, open_stream)`.

The layout and binary format are Qlib's own (`export/qlib_format.py`); pyqlib reads the result with
`qlib.init(provider_uri=OUT)` and `D.features(...)` (tests/export/test_qlib_pyqlib.py checks it with the real
library). Fields follow seed 004: open, high, low, close, volume (base), amount (quote volume), vwap (amount /
volume, NaN when volume is 0), trades, taker_buy_volume, taker_buy_amount, factor (1.0).

The calendar is 24/7: every bar of the freq's grid from 00:00 UTC of the first day any exported symbol holds
to the last bar any holds, weekends included. A symbol's `.bin` starts at its first bar and ends at its last;
bars missing inside that span are NaN rows (never shifted values), and a delisted symbol simply ends at its
last bar, in `all.txt` too (no survivorship bias).

Sources: `1min` from 1m klines, `60min` from 1h, `day` from 1d — or 60min and day built from 1m
(`from_1min`), day from 1h (`from_1h`). `60min` from 1h fills hours the 1h series lacks from 1m bars where the lake holds them (seed
004's fallback; only the days day_provenance says hold 1m are read).

Incremental (like Qlib's `DumpDataUpdate`): the export records what it wrote (`export/qlib_state.py`). A
later export appends the new bars to each `.bin` and to the calendar in place; a symbol whose stored history
changed since (a re-upload or a replaced day: day_provenance's rows and written-at of the exported days differ)
or whose files do not match the record is rewritten whole, each file atomically (temp file + rename). The
calendar's first bar is fixed by the first export: a later export reaching before it is refused (use a new
--out).
"""

from __future__ import annotations

import collections
import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.core.timerange import TimeRange, day_start
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.export import qlib_format as fmt
from binance_lake.export.out_lock import OutLock
from binance_lake.export.qlib_format import FIELDS, Freq, Span
from binance_lake.export.qlib_state import Exported, Manifest, all_manifests, read_manifest, write_manifest
from binance_lake.export.sink import (
    ExportReport,
    OpenStream,
    SeriesAsk,
    by_symbol,
    write_atomic,
    write_files_atomic,
)
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.provenance import (
    DaysWanted,
    day_fingerprints,
    first_held_days,
    has_day_provenance,
    held_days,
)

US = 1_000_000
WRITERS = 2  # threads writing `.bin` files (see `_Writers`)
WRITES_AHEAD = 8  # symbols whose writes may wait for a writer
UTC = dt.UTC
Values = dict[str, npt.NDArray[np.float32]]


@dataclass(frozen=True)
class QlibRequest:
    """One Qlib export: which freq, market and symbols over which range, into which directory."""

    freq: Freq
    market: Market
    symbols: tuple[str, ...]
    range: TimeRange
    out: Path
    prefix: str
    from_1min: bool = False
    from_1h: bool = False  # day only

    def __post_init__(self) -> None:
        if self.from_1min and self.from_1h:
            raise UsageError("give --from-1min or --from-1h, not both")
        if self.from_1h and self.freq is not Freq.DAY:
            raise UsageError(f"--from-1h builds day bars; {self.freq.value} is read from its own interval")

    @property
    def source(self) -> Interval:
        if self.from_1min:
            return Interval.M1
        return Interval.H1 if self.from_1h else self.freq.interval

    @property
    def fills_from_1min(self) -> bool:
        """60min from 1h takes the hours 1h lacks from 1m (seed 004's fallback)."""
        return self.freq is Freq.MIN60 and self.source is Interval.H1


def default_prefix(market: Market) -> str:
    """Seed 004's instrument prefix, `binance_um.` for USD-M."""
    return f"binance_{market.value}."


@dataclass
class Bars:
    """One symbol's bars on the freq's grid: `first` and `last` are absolute grid numbers (bar open time in
    µs since the epoch // the step), `values` one float32 array per field covering first .. last."""

    first: int
    last: int
    values: Values


def export_qlib(
    root: Path, request: QlibRequest, open_stream: OpenStream, *, progress: ProgressSink | None = None
) -> ExportReport:
    """Write or update the Qlib dataset of `request` (see the module docstring), holding `--out`'s lock
    (`export/out_lock.py`) throughout. `progress` receives phase "export" events: the symbols as series
    (total: every asked symbol; done: written, appended, found up to date or without bars) and rows."""
    out = request.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a directory for the Qlib dataset")
    with OutLock(out):
        return _export_qlib(root, request, open_stream, Progress(Phase.EXPORT, progress))


def _export_qlib(
    root: Path, request: QlibRequest, open_stream: OpenStream, counter: Progress
) -> ExportReport:
    out = request.out
    freq = request.freq
    step = int(freq.step.total_seconds() * US)
    manifest = _manifest_for(out, request)
    report = ExportReport(out=out)
    plan = _plan(root, request, manifest, report)
    calendar_first = _grid(plan.calendar_first, step)
    manifest.calendar_first = plan.calendar_first

    calendar_last = calendar_first + manifest.calendar_count - 1
    written: list[str] = []
    asked = {s for chosen in plan.asks.values() for s in chosen}
    counter.expect(len(set(request.symbols)))
    counter.add(done=len(set(request.symbols) - asked))  # up to date: nothing to read
    with _Writers() as writers:
        for first, chosen in sorted(plan.asks.items()):
            bars_read = _read_bars(request, chosen, _moment(first, step), plan.held_1m, open_stream, report)
            for symbol, bars in bars_read:
                name = fmt.instrument_name(request.prefix, symbol)
                if symbol in plan.resume:
                    exported = plan.old[symbol]
                    _append(out, name, exported, bars, freq, step)  # a few bars: cheaper than a handover
                    report.files_appended += len(FIELDS)
                    report.files_unchanged -= len(FIELDS)
                    start = exported.first
                else:
                    writers.submit(_write_full, out, name, bars, freq, calendar_first)
                    report.files_written += len(FIELDS)
                    start = _naive(_moment(bars.first, step))
                written.append(symbol)
                manifest.symbols[symbol] = Exported(name, start, _naive(_moment(bars.last, step)), "")
                rows = int(np.count_nonzero(~np.isnan(bars.values["close"])))
                report.rows += rows
                calendar_last = max(calendar_last, bars.last)
                counter.add(done=1, rows=rows)
    counter.add(done=len(asked - set(written)))  # read, but the lake holds no bar of them there

    if not manifest.symbols:
        raise UsageError(
            f"the lake holds no {request.source.value} klines of {', '.join(request.symbols)} between "
            f"{request.range.first_day} and {request.range.last_day}; nothing written (sync them first)"
        )
    # The fingerprint of what was read, recorded for the next export to compare against.
    with LakeDatabase(root).connect(read_only=True) as connection:
        spans = {s: manifest.symbols[s].span for s in written}
        after = _fingerprints(connection, request, spans) if has_day_provenance(connection) else {}
    for symbol in written:
        manifest.symbols[symbol].fingerprint = after.get(symbol, "")

    _write_calendar(out, manifest, calendar_last - calendar_first + 1)
    _write_instruments(out, manifest)
    write_manifest(out, manifest)
    report.symbols = sorted(written)
    report.details = {
        "freq": freq.value,
        "calendar_bars": manifest.calendar_count,
        "appended": sorted(s for s in written if s in plan.resume),
        "rewritten": sorted(s for s in written if s in plan.old and s not in plan.resume),
        "new": sorted(s for s in written if s not in plan.old),
    }
    return report


@dataclass(frozen=True)
class _Plan:
    """What an export reads: per first bar (grid number) the symbols read from there; which of them are
    appended to (`resume`, else rewritten whole); the calendar's first bar; the records found."""

    asks: dict[int, list[str]]
    resume: frozenset[str]
    calendar_first: dt.datetime
    old: dict[str, Exported]
    held_1m: dict[str, set[dt.date]]  # 60min from 1h: the days the lake holds 1m bars for, per symbol


def _plan(root: Path, request: QlibRequest, manifest: Manifest, report: ExportReport) -> _Plan:
    step = int(request.freq.step.total_seconds() * US)
    old = {s: manifest.symbols[s] for s in request.symbols if s in manifest.symbols}
    with LakeDatabase(root).connect(read_only=True) as connection:
        provenance = has_day_provenance(connection)
        before = _fingerprints(connection, request, {s: e.span for s, e in old.items()}) if provenance else {}
        firsts = (
            first_held_days(
                connection,
                market=request.market.value,
                dataset="klines",
                interval=request.source.value,
                symbols=[s for s in request.symbols if s not in old],
                first=request.range.first_day,
                last=request.range.last_day,
            )
            if provenance
            else {}
        )
        earliest = min([request.range.first_day, *(e.first.date() for e in old.values())])
        held_1m = _held_1m(connection, request, earliest) if provenance and request.fills_from_1min else {}
    if manifest.calendar_first is None:
        # From the first day any symbol holds (a lake without day provenance: from the range's start).
        start = max(request.range.start, day_start(min(firsts.values()))) if firsts else request.range.start
        calendar_first = _naive(_moment(_grid_ceil(start, step), step))
    else:
        calendar_first = manifest.calendar_first
    first_bar = _grid(calendar_first, step)
    early = [
        s for s, day in firsts.items() if max(day_start(day), request.range.start) < _aware(calendar_first)
    ]
    if early:
        raise UsageError(
            f"{request.out} starts its {request.freq.value} calendar at {fmt.format_time(calendar_first)} and "
            f"{', '.join(sorted(early))} hold bars before it; export them to a new --out"
        )

    # Per symbol: append after the recorded last bar when nothing it was built from changed; else rewrite.
    asks: dict[int, list[str]] = {}
    resume: set[str] = set()
    range_first = max(_grid_ceil(request.range.start, step), first_bar)
    for symbol in request.symbols:
        exported = old.get(symbol)
        unchanged = exported is not None and before.get(symbol) == exported.fingerprint
        if (
            exported is not None
            and unchanged
            and _files_match(request.out, exported, request.freq, first_bar, step)
        ):
            after_last = _grid(exported.last, step) + 1
            if _moment(after_last, step) >= request.range.end:
                report.files_unchanged += len(FIELDS)
                continue
            report.files_unchanged += len(FIELDS)  # until bars are appended to them
            resume.add(symbol)
            asks.setdefault(after_last, []).append(symbol)  # contiguous with what the file holds
            continue
        # New, or rewritten whole: from its recorded first bar when it had one, so no history is dropped.
        first = min(range_first, _grid(exported.first, step)) if exported is not None else range_first
        asks.setdefault(max(first, first_bar), []).append(symbol)
    return _Plan(asks, frozenset(resume), calendar_first, old, held_1m)


def _manifest_for(out: Path, request: QlibRequest) -> Manifest:
    manifest = read_manifest(out, request.freq)
    if manifest is None:
        if fmt.calendar_path(out, request.freq).exists():
            raise UsageError(
                f"{out} holds a Qlib {request.freq.value} dataset that binance-lake did not write; "
                "export into an empty or new --out"
            )
        return Manifest(request.freq, request.market.value, request.prefix, request.source.value)
    for what, had, now in (
        ("market", manifest.market, request.market.value),
        ("prefix", manifest.prefix, request.prefix),
    ):
        if had != now:
            raise UsageError(
                f"{out} holds a {request.freq.value} export with {what} {had!r}, not {now!r}; "
                f"use the same --{what} or a new --out"
            )
    manifest.source = request.source.value
    return manifest


def _fingerprints(connection: Connection, request: QlibRequest, spans: Mapping[str, Span]) -> dict[str, str]:
    """Per symbol, the fingerprint of the lake days its bars in `span` were built from (the source series,
    and 1m too where 60min fills from it)."""
    wanted = [DaysWanted(s, span.start.date(), span.end.date()) for s, span in spans.items()]
    series = [request.source.value] + (["1m"] if request.fills_from_1min else [])
    parts: dict[str, list[str]] = {s: [] for s in spans}
    for interval in series:
        found = day_fingerprints(
            connection,
            market=request.market.value,
            dataset="klines",
            interval=interval,
            wanted=wanted,
        )
        for symbol in spans:
            parts[symbol].append(f"{interval}={found.get(symbol, '-')}")
    return {s: " ".join(p) for s, p in parts.items()}


def _files_match(out: Path, exported: Exported, freq: Freq, calendar_first: int, step: int) -> bool:
    """Whether every `.bin` of the symbol has the size the record says (a crash mid-append breaks it)."""
    count = _grid(exported.last, step) - _grid(exported.first, step) + 1
    expected = fmt.bin_size(count)
    for path in fmt.bin_paths(out, exported.name, freq).values():
        try:
            if os.stat(path).st_size != expected:  # noqa: PTH116 - thousands of files: no Path objects
                return False
        except OSError:
            return False
    return calendar_first <= _grid(exported.first, step)


def _read_bars(
    request: QlibRequest,
    symbols: list[str],
    start: dt.datetime,
    held_1m: Mapping[str, set[dt.date]],
    open_stream: OpenStream,
    report: ExportReport,
) -> Iterator[tuple[str, Bars]]:
    """Each symbol's bars from `start` to the end of the range, on the freq's grid (60min: the hours 1h
    lacks taken from 1m on the days `held_1m` says the lake holds 1m for)."""
    step = int(request.freq.step.total_seconds() * US)
    ask = SeriesAsk(
        market=request.market.value,
        dataset="klines",
        interval=request.source.value,
        symbols=tuple(symbols),
        start=start,
        end=request.range.end,
        columns=fmt.SOURCE_COLUMNS,
    )
    stream = open_stream(ask)
    report.note_missing(stream, f"klines {request.source.value}")
    fills = {s: {d for d in held_1m[s] if d >= start.date()} for s in symbols if s in held_1m}
    seen: set[str] = set()
    for symbol, table in by_symbol(stream):
        seen.add(symbol)
        table = _bucketed(table, step) if request.source is not request.freq.interval else table
        if fills.get(symbol):
            table = _filled(table, symbol, fills[symbol], request, start, step, open_stream)
        if (bars := _bars(table, step)) is not None:
            yield symbol, bars
    # Symbols without a single source bar from `start` on, whose hours may all come from 1m.
    empty = pa.Table.from_batches([], stream.schema).drop_columns(["symbol"])
    for symbol in sorted(s for s in fills if s not in seen and fills[s]):
        table = _filled(empty, symbol, fills[symbol], request, start, step, open_stream)
        if (bars := _bars(table, step)) is not None:
            yield symbol, bars


def _held_1m(connection: Connection, request: QlibRequest, first: dt.date) -> dict[str, set[dt.date]]:
    """The days of 1m klines the lake holds per symbol from `first` on (day_provenance, one query)."""
    found: dict[str, set[dt.date]] = {}
    days = held_days(
        connection,
        market=request.market.value,
        dataset="klines",
        interval="1m",
        symbols=request.symbols,
        first=first,
        last=request.range.last_day,
    )
    for day in days:
        if day.rows is None or day.rows > 0:
            found.setdefault(day.symbol, set()).add(day.day)
    return found


def _filled(
    table: pa.Table,
    symbol: str,
    days_1m: set[dt.date],
    request: QlibRequest,
    start: dt.datetime,
    step: int,
    open_stream: OpenStream,
) -> pa.Table:
    """`table` (hourly bars from `start`) with the hours in `[start, end)` it lacks, on days the lake holds
    1m for, built from 1m bars."""
    times = table.column("open_time").cast(pa.int64()).to_numpy()
    have = set((times // step).tolist())
    low, high = _grid_ceil(start, step), _grid_ceil(request.range.end, step)
    per_day = 86_400 * US // step

    def lacks(day: dt.date) -> bool:
        first = _grid(day_start(day), step)
        return any(h not in have for h in range(max(first, low), min(first + per_day, high)))

    need = sorted(day for day in days_1m if lacks(day))
    if not need:
        return table
    ask = SeriesAsk(
        market=request.market.value,
        dataset="klines",
        interval="1m",
        symbols=(symbol,),
        start=max(day_start(need[0]), start),
        end=min(day_start(need[-1]) + dt.timedelta(days=1), request.range.end),
        columns=fmt.SOURCE_COLUMNS,
    )
    minutes = [t for _, t in by_symbol(open_stream(ask))]
    if not minutes:
        return table
    hours = _bucketed(pa.concat_tables(minutes), step)
    buckets = pc.divide(hours.column("open_time").cast(pa.int64()), step)
    extra = hours.filter(pc.invert(pc.is_in(buckets, value_set=pa.array(sorted(have), pa.int64()))))
    if extra.num_rows == 0:
        return table
    merged = pa.concat_tables([table.select(extra.schema.names).cast(extra.schema), extra])
    return merged.sort_by("open_time")


_AGGREGATES: tuple[tuple[str, Any], ...] = (
    ("open", "first"),
    ("high", "max"),
    ("low", "min"),
    ("close", "last"),
    ("volume", "sum"),
    ("quote_volume", "sum"),
    ("count", "sum"),
    ("taker_buy_volume", "sum"),
    ("taker_buy_quote_volume", "sum"),
)


def _bucketed(table: pa.Table, step: int) -> pa.Table:
    """Finer bars summed into bars of `step` µs (every bucket holding at least one bar), in time order:
    open = first open, high = max, low = min, close = last close, volumes and counts summed."""
    micros = table.column("open_time").cast(pa.int64())
    bucket = pc.multiply(pc.divide(micros, step), step)
    keyed = table.append_column("bucket", bucket)
    grouped = keyed.group_by("bucket", use_threads=False).aggregate(list(_AGGREGATES))
    columns = {name: grouped.column(f"{name}_{how}") for name, how in _AGGREGATES}
    open_time = grouped.column("bucket").cast(pa.timestamp("us", tz="UTC"))
    result = pa.Table.from_arrays([open_time, *columns.values()], names=["open_time", *columns])
    return result.sort_by("open_time")


def _bars(table: pa.Table, step: int) -> Bars | None:
    """The table's bars placed on the grid: NaN rows where a bar is missing, seed 004's fields."""
    if table.num_rows == 0:
        return None
    index = table.column("open_time").cast(pa.int64()).to_numpy() // step
    first, last = int(index[0]), int(index[-1])
    where = index - first
    size = last - first + 1

    def placed(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        array = np.full(size, np.nan, dtype=np.float32)
        array[where] = values
        return array

    def column(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    values: Values = {field: placed(column(source)) for field, source in fmt.COLUMNS.items()}
    volume, amount = column("volume"), column("quote_volume")
    with np.errstate(divide="ignore", invalid="ignore"):
        values["vwap"] = placed(np.where(volume > 0, amount / np.where(volume > 0, volume, 1.0), np.nan))
    values["factor"] = placed(np.ones(len(index)))
    return Bars(first, last, values)


class _Writers:
    """The symbols' `.bin` writes, on `WRITERS` threads while the export reads and builds the next symbols
    (file writes release the GIL); at most `WRITES_AHEAD` symbols wait, so memory stays a few symbols'.
    Leaving the block waits for every write; the first failure is raised then (the manifest is not
    written, so the next export repairs what was left)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="qlib-write")
        self._pending: collections.deque[Future[None]] = collections.deque()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        while len(self._pending) >= WRITES_AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            for future in self._pending:
                if exc_info[0] is None:
                    future.result()
                else:
                    future.cancel()
        finally:
            self._pool.shutdown(wait=True)


def _write_full(out: Path, name: str, bars: Bars, freq: Freq, calendar_first: int) -> None:
    start = bars.first - calendar_first
    files = {file: fmt.bin_pieces(start, bars.values[field]) for field, file in fmt.bin_names(freq).items()}
    write_files_atomic(str(fmt.feature_dir(out, name)), files)


def _append(out: Path, name: str, exported: Exported, bars: Bars, freq: Freq, step: int) -> None:
    """Append `bars` after the recorded last bar, NaN rows between, in place (as Qlib's DumpDataUpdate).
    Each file's size was checked against the record when the export was planned (`_files_match`)."""
    gap = bars.first - _grid(exported.last, step) - 1
    padding = np.full(gap, np.nan, dtype=fmt.FLOAT)
    for field, path in fmt.bin_paths(out, name, freq).items():
        tail = padding.tobytes() + bars.values[field].astype(fmt.FLOAT, copy=False).tobytes()
        try:
            handle = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(handle, tail)
            finally:
                os.close(handle)
        except OSError as error:
            raise StorageError(f"cannot append to {path}: {error.strerror or error}") from None


def _write_calendar(out: Path, manifest: Manifest, count: int) -> None:
    """The freq's calendar: the recorded part kept (cut back to it after a crash), the new bars appended."""
    assert manifest.calendar_first is not None
    path = fmt.calendar_path(out, manifest.freq)
    old = manifest.calendar_count
    count = max(count, old)
    width = manifest.freq.line_bytes
    step = manifest.freq.step
    if old and path.exists() and path.stat().st_size >= old * width:
        if count > old:
            lines = fmt.calendar_lines(manifest.calendar_first + old * step, count - old, manifest.freq)
            try:
                with path.open("r+b") as handle:
                    handle.truncate(old * width)
                    handle.seek(old * width)
                    handle.write(lines)
            except OSError as error:
                raise StorageError(f"cannot append to {path}: {error.strerror or error}") from None
    else:
        write_atomic(path, fmt.calendar_lines(manifest.calendar_first, count, manifest.freq))
    manifest.calendar_count = count


def _write_instruments(out: Path, manifest: Manifest) -> None:
    """`all.txt`, shared by every freq: each instrument from its first bar in any freq to its last in any;
    lines of instruments no export of ours records are kept as they were."""
    path = fmt.instruments_path(out)
    ours: dict[str, Span] = {}
    for each in [m for m in all_manifests(out) if m.freq is not manifest.freq] + [manifest]:
        for exported in each.symbols.values():
            name = exported.name
            ours[name] = ours[name].union(exported.span) if name in ours else exported.span
    recorded = {e.name for m in all_manifests(out) for e in m.symbols.values()}
    others = {n: s for n, s in fmt.read_instruments(path).items() if n not in recorded and n not in ours}
    write_atomic(path, fmt.instruments_text({**others, **ours}))


def _grid(moment: dt.datetime, step: int) -> int:
    """The grid number of the bar opening at `moment` (naive means UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return round(aware.timestamp() * US) // step


def _grid_ceil(moment: dt.datetime, step: int) -> int:
    micros = round(moment.timestamp() * US)
    return -(-micros // step)


def _moment(number: int, step: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=number * step)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
