"""`update --fill-gaps`: what is missing inside each series' held range, asked from REST, and what REST lacks
too recorded as a confirmed gap (`storage/rest_gaps.py`) so no later run asks for it again.

Two kinds of holes, oldest first, at most `max_days` days a series per run (`--max-gap-days`):
- days the lake does not hold between its first and last held day (an archive 404 day, a day never synced):
  one window per run of such days;
- bars missing on the grid inside the held days of a fixed-interval series (an archive file with a hole):
  one window per hole between two stored bars.
A window is left out when a confirmed gap covers it. After the fill, `confirm` compares each window with
the rows REST returned: the grid times (or, without a grid, the whole days) REST did not return are gaps,
`maintenance` when every symbol asked for the same window lacked it (two or more, core/quirks.py
`MAINTENANCE_SHARE`'s exchange-wide windows), `absent` otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start, from_millis, iter_days, to_millis
from binance_lake.engine.rest_fill import RestWindow, is_statistics, rest_fillable, rest_horizon_ms
from binance_lake.storage.database import Connection
from binance_lake.storage.provenance import held_days_of
from binance_lake.storage.rest_gaps import GapKind, RestGap

DAY_MS = 86_400_000


def grid_ms(series: SeriesKey) -> int | None:
    """The fixed bar length of a series, None without one (funding, statistics, calendar months)."""
    interval = series.interval
    if interval is None or interval.is_calendar:
        return None
    return interval.milliseconds


def _covered(confirmed: Sequence[RestGap], start_ms: int, end_ms: int) -> bool:
    start, end = from_millis(start_ms), from_millis(end_ms)
    return any(g.covers(start, end) for g in confirmed)


def _runs(days: Sequence[dt.date]) -> list[list[dt.date]]:
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and runs[-1][-1] + dt.timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _stored_times_ms(root: Path, series: SeriesKey, days: Sequence[dt.date]) -> Any:
    """The stored time column of `series` over `days` as sorted int ms."""
    spec = get_dataset(series.dataset)
    paths = {
        root / partition_for_day(series.dataset, series.market, series.interval, series.symbol, d).path
        for d in days
    }
    parts = [pq.read_table(p, columns=[spec.time_column]).column(0) for p in sorted(paths) if p.exists()]
    if not parts:
        return np.array([], dtype=np.int64)
    times: Any = pc.cast(pa.chunked_array([c for p in parts for c in p.chunks], parts[0].type), pa.int64())
    return np.sort(times.to_numpy()) // 1000


def missing_windows(
    connection: Connection,
    root: Path,
    series: Sequence[SeriesKey],
    *,
    before: dt.date,
    max_days: int,
    now_ms: int,
    confirmed: Mapping[SeriesKey, Sequence[RestGap]],
) -> list[RestWindow]:
    """The windows to ask REST for inside each series' held range before `before` (see the module)."""
    windows: list[RestWindow] = []
    fillable = [key for key in series if rest_fillable(key)]
    held_by_series = held_days_of(
        connection, fillable, first=dt.date(1970, 1, 1), last=before - dt.timedelta(days=1)
    )
    for key in fillable:
        days = [h.day for h in held_by_series[key]]
        if len(days) < 2:
            continue
        known = confirmed.get(key, ())
        held = set(days)
        found: list[RestWindow] = []
        for run in _runs([d for d in iter_days(days[0], days[-1]) if d not in held]):
            start = to_millis(day_start(run[0]))
            end = min(to_millis(day_start(run[-1] + dt.timedelta(days=1))) - 1, now_ms)
            found.append(RestWindow(key, start, end))
        step = grid_ms(key)
        if step is not None:
            times = _stored_times_ms(root, key, days)
            for i in np.flatnonzero(np.diff(times) > step):
                found.append(RestWindow(key, int(times[i]) + step, int(times[i + 1]) - step))
        if is_statistics(key):  # REST no longer has what is older than its 30 days
            found = [w for w in found if w.start_ms >= rest_horizon_ms(now_ms)]
        found = [w for w in found if not _covered(known, w.start_ms, _last_asked(w, step))]
        windows.extend(_bounded(sorted(found, key=lambda w: w.start_ms), max_days))
    return windows


def _last_asked(window: RestWindow, step: int | None) -> int:
    """The last time a window can return: its last grid time, or its end."""
    if step is None:
        return window.end_ms
    return window.start_ms + (window.end_ms - window.start_ms) // step * step


def _bounded(windows: Sequence[RestWindow], max_days: int) -> list[RestWindow]:
    """The oldest windows touching at most `max_days` distinct days; a run of whole days is cut to fit."""
    kept: list[RestWindow] = []
    touched: set[dt.date] = set()
    for window in windows:
        days = list(iter_days(window.first_day, window.last_day))
        room = max_days - len(touched | set(days))
        if room < 0:
            fresh = [d for d in days if d not in touched]
            take = max_days - len(touched)
            if take <= 0 or window.start_ms != to_millis(day_start(window.first_day)):
                break
            last = fresh[take - 1]
            window = RestWindow(
                window.series, window.start_ms, to_millis(day_start(last + dt.timedelta(days=1))) - 1
            )
            days = list(iter_days(window.first_day, window.last_day))
            touched |= set(days)
            kept.append(window)
            break
        touched |= set(days)
        kept.append(window)
    return kept


def lacking(window: RestWindow, table: pa.Table) -> list[tuple[int, int]]:
    """The runs `(first, last)` of times (ms) in `window` REST did not return: grid times for a series with a
    grid, whole days otherwise."""
    spec = get_dataset(window.series.dataset)
    got: Any = (
        pc.cast(table.column(spec.time_column), pa.int64()).to_numpy() // 1000 if table.num_rows else []
    )
    step = grid_ms(window.series)
    if step is None:
        have = {from_millis(int(t)).date() for t in got}
        runs = _runs([d for d in iter_days(window.first_day, window.last_day) if d not in have])
        return [
            (
                max(window.start_ms, to_millis(day_start(r[0]))),
                min(window.end_ms, to_millis(day_start(r[-1] + dt.timedelta(days=1))) - 1),
            )
            for r in runs
        ]
    grid = np.arange(window.start_ms, window.end_ms + 1, step, dtype=np.int64)
    missing = grid[~np.isin(grid, np.asarray(got, dtype=np.int64))]
    if missing.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(missing) != step)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [missing.size - 1]))
    return [(int(missing[a]), int(missing[b])) for a, b in zip(starts, ends, strict=True)]


def confirm(fetched: Sequence[tuple[RestWindow, pa.Table, str]]) -> list[RestGap]:
    """The confirmed gaps of the fetched gap windows: `(window, rows REST returned, request)`."""
    lacks: list[tuple[RestWindow, int, int, str]] = []
    for window, table, ref in fetched:
        lacks.extend((window, a, b, ref) for a, b in lacking(window, table))
    # Which symbols lacked each span; every symbol asked for it (two or more) lacking it is maintenance.
    lacked: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for window, a, b, _ in lacks:
        lacked[(window.series.market, window.series.dataset, window.series.interval, a, b)].add(
            window.series.symbol
        )
    gaps: list[RestGap] = []
    for window, a, b, ref in lacks:
        s = window.series
        askers = {
            w.series.symbol
            for w, _, _ in fetched
            if (w.series.market, w.series.dataset, w.series.interval) == (s.market, s.dataset, s.interval)
            and w.start_ms <= a
            and b <= w.end_ms
        }
        shared = lacked[(s.market, s.dataset, s.interval, a, b)]
        kind = GapKind.MAINTENANCE if len(askers) >= 2 and askers <= shared else GapKind.ABSENT
        gaps.append(RestGap(s, from_millis(a), from_millis(b), kind, ref))
    return gaps
