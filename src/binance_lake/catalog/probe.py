"""Probe the archive with HEAD requests for the daily files expected of the known symbols: the fast
incremental path between full listings.

Daily files are usually uploaded the next morning but can be days late (issues #150, #411, #414) and can be
re-uploaded in place (#413), so a probe re-checks the last N days, not only the newest: a late upload appears as a
new file and a re-upload as a revision. A 404 proves only that the file is not there yet; it never marks a known
file as gone (only a complete listing can).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from binance_lake.binance.archive_client import ObjectInfo
from binance_lake.catalog.probed import record_probed
from binance_lake.catalog.queries import Filters
from binance_lake.catalog.refresh import first_error
from binance_lake.catalog.store import CatalogChanges, SeenFile, apply_seen, ensure_catalog, seen_table
from binance_lake.core.archive import ArchiveFile, ParsedKey
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Cadence, Interval, Market, is_daily_file_date
from binance_lake.storage.database import Connection, LakeDatabase


class Prober(Protocol):
    """The part of the archive client a probe needs (see `binance.archive_client.ArchiveClient`)."""

    async def head(self, key: str) -> ObjectInfo | None: ...


Series = SeriesKey  # the old name, kept for imports


@dataclass(frozen=True)
class ProbeReport:
    changes: CatalogChanges
    probed: int
    found: int
    missing: tuple[str, ...]
    series: int
    seconds: float


def active_series(
    connection: Connection, last_day: dt.date, filters: Filters, *, window_days: int = 30
) -> list[SeriesKey]:
    """Series with a daily file in the `window_days` before `last_day`: the ones expected to keep publishing."""
    where, params = filters.sql()
    rows = connection.execute(
        f"""
        SELECT DISTINCT market, dataset, "interval", symbol FROM upstream_files
        WHERE NOT gone AND cadence = 'daily' AND last_day >= ? AND {where}
        ORDER BY ALL
        """,
        [last_day - dt.timedelta(days=window_days), *params],
    ).fetchall()
    return [SeriesKey(Market(m), d, Interval(i) if i else None, s) for m, d, i, s in rows]


def expected_files(series: list[SeriesKey], days: list[dt.date]) -> Iterator[ArchiveFile]:
    """The daily files expected of `series` on `days`, one at a time: a long probe never holds them all."""
    for s in series:
        for day in days:
            if s.interval is None or is_daily_file_date(s.interval, day):
                yield ArchiveFile(s.market, Cadence.DAILY, s.dataset, s.symbol, s.interval, day)


def count_expected(series: list[SeriesKey], days: list[dt.date]) -> int:
    """How many files `expected_files` yields, without making them (the count depends only on the interval)."""
    per_interval: dict[Interval | None, int] = {}
    for s in series:
        if s.interval not in per_interval:
            per_interval[s.interval] = sum(
                1 for day in days if s.interval is None or is_daily_file_date(s.interval, day)
            )
    return sum(per_interval[s.interval] for s in series)


async def probe(
    prober: Prober,
    database: LakeDatabase,
    *,
    last_day: dt.date,
    days_back: int = 1,
    filters: Filters | None = None,
    concurrency: int = 64,
    progress: ProgressSink | None = None,
) -> ProbeReport:
    """HEAD every daily file expected for `last_day` and the `days_back - 1` days before it.

    `concurrency` workers take the expected files one by one from a shared generator, so memory and the number
    of tasks stay bounded however many files there are, and Ctrl-C cancels a handful of running requests.
    `progress` receives a `Phase.PROBING` event when the number of expected files is known and after each."""
    started = time.monotonic()
    ensure_catalog(database)
    with database.connect(read_only=False) as connection:
        series = active_series(connection, last_day, filters or Filters())
    days = list(iter_days(last_day - dt.timedelta(days=max(days_back, 1) - 1), last_day))
    total = count_expected(series, days)
    files = expected_files(series, days)
    found: list[SeenFile] = []
    missing: list[ArchiveFile] = []
    counter = Progress(Phase.PROBING, progress)
    counter.expect(total)

    async def worker() -> None:
        # A generator shared by coroutines of one thread: `next` never awaits, so no file is taken twice.
        for file in files:
            head = await prober.head(file.key)
            if head is None:
                missing.append(file)
            else:
                parsed = ParsedKey(file=file, key=file.key, is_checksum=False)
                # S3 always sends Last-Modified; a mirror that does not gets the probe's time.
                modified = head.last_modified or dt.datetime.now(dt.UTC)
                found.append(SeenFile(parsed, head.size, head.etag, modified))
            counter.add(done=1)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, total)):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise first_error(failed) from None

    def write() -> CatalogChanges:
        now = dt.datetime.now(dt.UTC)
        with database.connect() as connection:
            changes = apply_seen(connection, seen_table(found), now=now, scope=None)
            # seed 002's status code and probe time (`daily_availability`), for found and missing files
            record_probed(connection, (f.file for f in found), missing, now)
            return changes

    changes = await asyncio.to_thread(write)
    return ProbeReport(
        changes=changes,
        probed=total,
        found=len(found),
        missing=tuple(sorted(f.key for f in missing)),
        series=len(series),
        seconds=time.monotonic() - started,
    )
