"""`Lake.load(..., source="rest")`: a range served from REST (seed 001's `enforce_source=REST`).

For each series of the load and the range `[start_ms, end_ms)`, up to the last closed bar:
- days the lake holds from REST are read from the lake (nothing asked);
- days it does not hold are fetched and stored as REST-provisional days (`engine/rest_fill.py`): the lake
  gains them, and the archive replaces them with a reconciliation once it has them;
- days it holds from the archive (or a stream) are fetched and returned, never stored over the verified rows.
`plan_rest_range` is pure over the held days; `run_rest_range` does the fetching.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import day_start, from_millis, iter_days, to_millis
from binance_lake.engine.rest_fill import (
    RestFillReport,
    RestWindow,
    fetch_window,
    last_closed_ms,
    rest_fillable,
    run_rest_fill,
)
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import held_days_of


@dataclass(frozen=True)
class RestRange:
    """What a REST load asks: windows to store (days the lake lacks) and windows only to return."""

    store: tuple[RestWindow, ...]
    serve: tuple[RestWindow, ...]


def _runs(days: Sequence[dt.date]) -> list[tuple[dt.date, dt.date]]:
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def plan_rest_range(
    series: Iterable[SeriesKey],
    held: Mapping[SeriesKey, Mapping[dt.date, Provenance]],
    *,
    start_ms: int,
    end_ms: int,
    now_ms: int,
) -> RestRange:
    """The windows of a REST load of `[start_ms, end_ms)` (pure); `held` is each series' held days."""
    store: list[RestWindow] = []
    serve: list[RestWindow] = []
    for key in series:
        if not rest_fillable(key):
            raise UsageError(
                f"{key.dataset} of {key.market.value} is not served by REST; load it from the lake"
            )
        last = min(end_ms - 1, last_closed_ms(key, now_ms))
        if last < start_ms:
            continue
        days = list(iter_days(from_millis(start_ms).date(), from_millis(last).date()))
        sources = held.get(key, {})
        missing = [d for d in days if d not in sources]
        verified = [d for d in days if d in sources and sources[d] is not Provenance.REST]
        for target, chosen in ((store, missing), (serve, verified)):
            for first, final in _runs(chosen):
                lo = max(start_ms, to_millis(day_start(first)))
                hi = min(last, to_millis(day_start(final + dt.timedelta(days=1))) - 1)
                target.append(RestWindow(key, lo, hi))
    return RestRange(tuple(store), tuple(serve))


def held_sources(
    database: LakeDatabase, series: Sequence[SeriesKey], first: dt.date, last: dt.date
) -> dict[SeriesKey, dict[dt.date, Provenance]]:
    """Each series' held days in `first .. last` and their source."""
    found: dict[SeriesKey, dict[dt.date, Provenance]] = {}
    if not database.path.exists():
        return found
    with database.connect(read_only=True) as connection:
        held = held_days_of(connection, series, first=first, last=last)
    found.update({key: {h.day: h.source for h in days} for key, days in held.items()})
    return found


async def run_rest_range(
    plan: RestRange, rest: MarketRestClient, database: LakeDatabase
) -> tuple[RestFillReport, dict[SeriesKey, pa.Table]]:
    """Store the `store` windows (REST-provisional days), fetch the `serve` ones: the fill's report and the
    served rows per series, in the lake's columns."""
    report = await run_rest_fill(plan.store, rest, database)
    if report.failures:
        series, sentence = next(iter(report.failures.items()))
        raise ServerError(f"REST did not serve {series}: {sentence}")
    tables = await asyncio.gather(*(fetch_window(rest, w) for w in plan.serve))
    served: dict[SeriesKey, list[pa.Table]] = {}
    for window, table in zip(plan.serve, tables, strict=True):
        served.setdefault(window.series, []).append(table)
    return report, {k: pa.concat_tables(v) for k, v in served.items()}
