"""The sync's listing: monthly files first, then daily files only for the days no monthly file covers.

The plan (engine/plan.py) takes a month's monthly file whenever the archive has one and usable, and the daily
files of the asked days only otherwise, so the daily directories of months the monthly listing covers are never
needed. Listing them anyway was half of a sync's listing requests and most of its keys (two years of daily
files are 1460 keys a directory, their monthly files 48). So, when the request names its symbols: one walk of
the monthly files (datasets with only daily files are listed whole in it), then, per dataset and interval, one
walk of the daily directories lacking a monthly file (or whose monthly file is quarantined: the plan falls back
to daily files there), over the span of days they lack. Listing more than needed is always safe; listing less
never happens: a month is skipped only when the catalog, just refreshed, holds its monthly file.

A request for every symbol (`--all`) lists as before in one walk: who traded is decided from the daily files.
The daily days such a sync leaves unlisted are the months `monthly_months` finds covered; a dry run does not
report them as never listed (engine/sync.py `_unlisted`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from binance_lake.catalog.diff import CatalogChanges
from binance_lake.catalog.reads import listed_files
from binance_lake.catalog.refresh import Lister, RefreshReport, Selection, refresh
from binance_lake.core.datasets import get_dataset
from binance_lake.core.progress import ProgressSink
from binance_lake.core.timerange import iter_months, month_end, month_start
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import FileStatus, recorded
from binance_lake.storage.database import Connection, LakeDatabase

_Span = tuple[str, Interval | None, dt.date, dt.date]
"""(dataset, interval, first day, last day) of one daily walk."""


async def refresh_monthly_first(
    lister: Lister,
    database: LakeDatabase,
    selection: Selection,
    *,
    archive_url: str,
    progress: ProgressSink | None = None,
) -> RefreshReport:
    """Refresh the catalog for `selection` (named symbols, a day range), listing daily directories only where
    no monthly file covers the days; see the module docstring. One report for all the walks."""
    both = [d for d in selection.datasets if len(get_dataset(d).cadences) > 1]
    first, last = selection.first_day, selection.last_day
    if not selection.symbols or not both or first is None or last is None or len(selection.markets) != 1:
        return await refresh(lister, database, selection, archive_url=archive_url, progress=progress)
    monthly = dataclasses.replace(selection, cadences=(Cadence.MONTHLY,))
    reports = [await refresh(lister, database, monthly, archive_url=archive_url, progress=progress)]
    for (dataset, interval, lo, hi), directories in sorted(_daily_spans(database, selection, both).items()):
        daily = Selection(
            markets=selection.markets,
            datasets=(dataset,),
            symbols=tuple(sorted(directories)),
            intervals=(interval,) if interval is not None else (),
            first_day=lo,
            last_day=hi,
            cadences=(Cadence.DAILY,),
        )
        reports.append(await refresh(lister, database, daily, archive_url=archive_url, progress=progress))
    return combined(reports)


def _daily_spans(database: LakeDatabase, selection: Selection, datasets: list[str]) -> dict[_Span, set[str]]:
    """Per (dataset, interval, span of days): the directories whose monthly files leave those days uncovered."""
    assert selection.first_day is not None and selection.last_day is not None
    first, last = selection.first_day, selection.last_day
    (market,) = selection.markets
    months = list(iter_months(first, last))
    spans: dict[_Span, set[str]] = defaultdict(set)
    with database.connect(read_only=True) as connection:
        for dataset in datasets:
            intervals: list[Interval | None] = (
                list(selection.intervals) if get_dataset(dataset).has_interval else [None]
            )
            files = [
                f
                for f in listed_files(
                    connection,
                    market,
                    dataset,
                    list(selection.symbols),
                    [i.value for i in selection.intervals],
                    first,
                    last,
                )
                if f.file.cadence is Cadence.MONTHLY
            ]
            states = recorded(connection, [f.key for f in files])
            held = {
                (f.file.symbol, f.file.interval, f.file.period)
                for f in files
                if (state := states.get(f.key)) is None or state.status is not FileStatus.QUARANTINED
            }
            for directory in selection.symbols:
                for interval in intervals:
                    lacking = [m for m in months if (directory, interval, m) not in held]
                    if lacking:
                        lo = max(first, month_start(lacking[0]))
                        hi = min(last, month_end(lacking[-1]))
                        spans[(dataset, interval, lo, hi)].add(directory)
    return spans


def monthly_months(
    connection: Connection,
    market: Market,
    dataset: str,
    directories: list[str],
    intervals: list[str | None],
    first: dt.date,
    last: dt.date,
) -> set[dt.date]:
    """The months of `first .. last` for which the catalog holds a monthly file of every directory and interval
    asked (for every symbol, `directories` empty: none)."""
    if not directories or len(get_dataset(dataset).cadences) < 2:
        return set()
    asked = [i for i in intervals if i is not None]
    files = listed_files(connection, market, dataset, directories, asked, first, last)
    held = {
        (f.file.symbol, f.file.interval, f.file.period) for f in files if f.file.cadence is Cadence.MONTHLY
    }
    return {
        month
        for month in iter_months(first, last)
        if all(
            (d, Interval(i) if i is not None else None, month) in held for d in directories for i in intervals
        )
    }


def without_months(
    ranges: list[tuple[dt.date, dt.date]], months: set[dt.date]
) -> tuple[tuple[dt.date, dt.date], ...]:
    """`ranges` of days minus the days of `months` (first days of months)."""
    kept: list[tuple[dt.date, dt.date]] = []
    for lo, hi in ranges:
        start: dt.date | None = None
        day = lo
        while day <= hi:
            if month_start(day) in months:
                if start is not None:
                    kept.append((start, day - dt.timedelta(days=1)))
                    start = None
                day = min(hi, month_end(day)) + dt.timedelta(days=1)
                continue
            if start is None:
                start = day
            day += dt.timedelta(days=1)
        if start is not None:
            kept.append((start, hi))
    return tuple(kept)


def combined(reports: list[RefreshReport]) -> RefreshReport:
    """One report for walks run one after the other: counts and seconds added up."""
    if len(reports) == 1:
        return reports[0]
    fields = [f.name for f in dataclasses.fields(CatalogChanges)]
    changes = CatalogChanges(**{name: sum(getattr(r.changes, name) for r in reports) for name in fields})
    return RefreshReport(
        changes=changes,
        files_seen=sum(r.files_seen for r in reports),
        other_keys=sum(r.other_keys for r in reports),
        pages=sum(r.pages for r in reports),
        prefixes=sum(r.prefixes for r in reports),
        seconds=sum(r.seconds for r in reports),
        exchange_symbols=sum(r.exchange_symbols for r in reports),
        exchange_error=next((r.exchange_error for r in reports if r.exchange_error), None),
        keys=sum(r.keys for r in reports),
    )
