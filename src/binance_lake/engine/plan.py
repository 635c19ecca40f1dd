"""Plan a sync: which archive files to fetch, as a pure function of the catalog, the lake's state and the
request. Pure: no I/O.

Rules (seed 000 "smart updates", seed 004's bulk-history path):
- Per series and month, the monthly file is used when the archive has one; otherwise the daily files of the
  requested days. So a month held as daily files is replaced by its monthly file once that is published.
- A monthly file whose bytes failed verification twice (quarantined, e.g. a corrupt zip, issue #469) falls back
  to the month's daily files. A quarantined file is skipped until its upstream ETag or size changes, or the
  request says `retry_quarantined`; its key is listed in `Plan.quarantined` and its days never as missing
  upstream (they are in the archive, just not trustworthy yet).
- A file is fetched when the lake does not hold it, when its upstream ETag or size changed since it was ingested
  (Binance re-uploads in place, issue #413), or when an earlier attempt did not finish. Nothing else is touched,
  so planning right after a completed sync yields an empty plan.
- `SyncMode` says what a sync plans from: the default resumes; `--from-scratch` plans with no recorded state;
  `--rebuild` plans only the held files, from their kept raw zips (`plan_rebuild`).
- A held file whose partition is gone or damaged (`lost`, found by the sync's stat check) is planned again
  (`PARTITION_LOST`), with every other held file that wrote into the same partition, even outside the asked
  range: a month written from daily files needs all of them back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import UsageError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import iter_days, iter_months, month_end, month_start
from binance_lake.core.vocabulary import Cadence, is_daily_file_date
from binance_lake.engine.state import FileStatus, RecordedFile


@dataclass(frozen=True)
class CatalogFile:
    """A file the catalog says the archive holds now."""

    key: str  # as listed (may be non-canonical, e.g. `ADABKRW-1d-2020-8.zip`)
    file: ArchiveFile
    size: int
    etag: str
    has_checksum: bool | None = None  # None: not known (found by a probe, not a listing)


class Reason(StrEnum):
    NEW = "new"
    CHANGED = "changed upstream"
    UNFINISHED = "unfinished"
    PARTITION_LOST = "partition lost"  # held, but a partition it wrote is gone or damaged: rebuild it
    RETRY_QUARANTINED = "quarantined, retried"
    REBUILD = "rebuild from raw"  # `sync --rebuild`: re-ingest a held file from its kept raw zip only


class SyncMode(StrEnum):
    """What a sync plans from (`SyncOptions.mode`). RESUME, the default, fetches what the lake lacks and
    finishes what an earlier run left; FROM_SCRATCH ignores the recorded progress of the selection, so every
    file is planned as new (seed 000's `--no-resume`); REBUILD re-ingests the held files of the selection from
    their kept raw zips and downloads nothing (seed 000's `--process-only`)."""

    RESUME = "resume"
    FROM_SCRATCH = "from-scratch"
    REBUILD = "rebuild"

    @classmethod
    def of(cls, *, rebuild: bool = False, from_scratch: bool = False) -> SyncMode:
        """The mode of the flags `--rebuild` and `--from-scratch`, which exclude each other."""
        if rebuild and from_scratch:
            raise UsageError(
                "give --rebuild (re-ingest the kept zips) or --from-scratch (fetch again), not both"
            )
        return cls.REBUILD if rebuild else cls.FROM_SCRATCH if from_scratch else cls.RESUME


@dataclass(frozen=True)
class PlannedFile:
    entry: CatalogFile
    reason: Reason
    sha256: str | None = None  # PARTITION_LOST: the recorded sha256 of the bytes ingested (kept raw zip)

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def file(self) -> ArchiveFile:
        return self.entry.file


Series = SeriesKey  # the old name, kept for imports


@dataclass(frozen=True)
class Plan:
    fetch: tuple[PlannedFile, ...]
    held: int  # files already in the lake and unchanged upstream
    quarantined: tuple[str, ...]  # keys skipped because they failed verification and did not change since
    unavailable: Mapping[SeriesKey, tuple[dt.date, ...]] = field(default_factory=dict)  # days no file covers

    @property
    def bytes(self) -> int:
        return sum(p.entry.size for p in self.fetch)

    @property
    def is_empty(self) -> bool:
        return not self.fetch


def _series(file: ArchiveFile) -> SeriesKey:
    return SeriesKey(file.market, file.dataset, file.interval, file.symbol)


def _is_quarantined(entry: CatalogFile, recorded: Mapping[str, RecordedFile]) -> bool:
    state = recorded.get(entry.key)
    return (
        state is not None
        and state.status is FileStatus.QUARANTINED
        and state.etag == entry.etag
        and state.size == entry.size
    )


def _decide(
    entry: CatalogFile,
    recorded: Mapping[str, RecordedFile],
    lost: Mapping[str, CatalogFile] | None = None,
    retry_quarantined: bool = False,
) -> Reason | None:
    state = recorded.get(entry.key)
    if state is None:
        return Reason.NEW
    unchanged = state.etag == entry.etag and state.size == entry.size
    if state.status is FileStatus.QUARANTINED and unchanged and retry_quarantined:
        return Reason.RETRY_QUARANTINED
    if state.status in (FileStatus.INGESTED, FileStatus.QUARANTINED):
        if not unchanged:
            return Reason.CHANGED
        if lost and entry.key in lost and state.status is FileStatus.INGESTED:
            return Reason.PARTITION_LOST
        return None
    return Reason.UNFINISHED


def _planned(entry: CatalogFile, reason: Reason, recorded: Mapping[str, RecordedFile]) -> PlannedFile:
    state = recorded.get(entry.key)
    keeps_bytes = reason in (Reason.PARTITION_LOST, Reason.REBUILD)
    sha = state.sha256 if keeps_bytes and state is not None else None
    return PlannedFile(entry, reason, sha)


def _rebuilds(
    lost: Mapping[str, CatalogFile], recorded: Mapping[str, RecordedFile], fetch: list[PlannedFile]
) -> list[PlannedFile]:
    """The held files of lost partitions the range did not plan: their partitions need them all."""
    planned = {p.key for p in fetch}
    months = {(_series(p.file), p.file.period) for p in fetch if p.file.cadence is Cadence.MONTHLY}
    extra: list[PlannedFile] = []
    for key in sorted(lost):
        entry = lost[key]
        state = recorded.get(key)
        if key in planned or state is None or state.status is not FileStatus.INGESTED:
            continue
        file = entry.file
        if file.cadence is Cadence.DAILY and (_series(file), month_start(file.period)) in months:
            continue  # the month's monthly file, planned anyway, rewrites these days
        reason = _decide(entry, recorded, lost)
        if reason is not None:
            extra.append(_planned(entry, reason, recorded))
    return extra


def _choose_for_month(
    month: dt.date,
    wanted: list[dt.date],
    monthly: CatalogFile | None,
    daily: Mapping[dt.date, CatalogFile],
    recorded: Mapping[str, RecordedFile],
    retry_quarantined: bool = False,
) -> tuple[list[CatalogFile], list[dt.date], list[str]]:
    """The files covering `wanted` days of `month`, the days no upstream file covers, and skipped quarantined
    keys (whose days are in the archive, so not uncovered)."""
    skipped: list[str] = []
    if monthly is not None:
        if retry_quarantined or not _is_quarantined(monthly, recorded):
            return [monthly], [], skipped
        skipped.append(monthly.key)
    chosen: list[CatalogFile] = []
    uncovered: list[dt.date] = []
    for day in wanted:
        entry = daily.get(day)
        if entry is None:
            if monthly is None:  # a quarantined monthly file holds the day: not missing upstream
                uncovered.append(day)
        elif not retry_quarantined and _is_quarantined(entry, recorded):
            skipped.append(entry.key)
        else:
            chosen.append(entry)
    return chosen, uncovered, skipped


def plan_sync(
    catalog: Iterable[CatalogFile],
    recorded: Mapping[str, RecordedFile],
    first_day: dt.date,
    last_day: dt.date,
    *,
    lost: Mapping[str, CatalogFile] | None = None,
    retry_quarantined: bool = False,
) -> Plan:
    """Plan the fetches that make the lake hold `catalog`'s series over `first_day .. last_day`.

    With `retry_quarantined`, quarantined files are fetched (and verified) again even though upstream did not
    change them.

    `catalog` holds the candidate files of the chosen series (any period; files outside the range are ignored).
    Series are the (market, dataset, interval, symbol) combinations present in `catalog`. `lost` are the held
    files (by key, with the entry to fetch) whose partitions are gone or damaged; each is planned again.
    """
    monthly: dict[SeriesKey, dict[dt.date, CatalogFile]] = defaultdict(dict)
    daily: dict[SeriesKey, dict[dt.date, CatalogFile]] = defaultdict(dict)
    for entry in catalog:
        f = entry.file
        if f.last_day < first_day or f.first_day > last_day:
            continue
        target = monthly if f.cadence is Cadence.MONTHLY else daily
        target[_series(f)][f.period] = entry
    fetch: list[PlannedFile] = []
    held = 0
    quarantined: list[str] = []
    unavailable: dict[SeriesKey, tuple[dt.date, ...]] = {}
    for series in sorted(set(monthly) | set(daily), key=SeriesKey.sort_key):
        missing: list[dt.date] = []
        entries = [*monthly[series].values(), *daily[series].values()]
        # The series' own life bounds what can be missing: nothing is expected before its first file or after
        # its last (a delisted symbol), and 3d/1w/1mo daily files exist only on the day a bar opens.
        life_first = max(first_day, min(e.file.first_day for e in entries))
        life_last = min(last_day, max(e.file.last_day for e in entries))
        interval = entries[0].file.interval
        for month in iter_months(life_first, life_last):
            wanted = [
                d
                for d in iter_days(max(month, life_first), min(month_end(month), life_last))
                if interval is None or is_daily_file_date(interval, d)
            ]
            if not wanted:
                continue
            chosen, uncovered, skipped = _choose_for_month(
                month, wanted, monthly[series].get(month), daily[series], recorded, retry_quarantined
            )
            quarantined.extend(skipped)
            missing.extend(uncovered)
            for entry in chosen:
                reason = _decide(entry, recorded, lost, retry_quarantined)
                if reason is None:
                    held += 1
                else:
                    fetch.append(_planned(entry, reason, recorded))
        if missing:
            unavailable[series] = tuple(missing)
    if lost:
        fetch.extend(_rebuilds(lost, recorded, fetch))
    return Plan(fetch=tuple(fetch), held=held, quarantined=tuple(quarantined), unavailable=unavailable)


def plan_rebuild(
    catalog: Iterable[CatalogFile],
    recorded: Mapping[str, RecordedFile],
    first_day: dt.date,
    last_day: dt.date,
    kept: Callable[[str], bool],
) -> tuple[Plan, tuple[str, ...]]:
    """`sync --rebuild`: every ingested file of `catalog` touching `first_day .. last_day` whose raw zip is
    kept (`kept(key)`), planned for re-ingest from it (`Reason.REBUILD`, with the sha256 that was ingested);
    and the keys of ingested files whose raw zip is not kept (they cannot be rebuilt without a download)."""
    fetch: list[PlannedFile] = []
    without_raw: list[str] = []
    for entry in sorted(catalog, key=lambda e: e.key):
        f, state = entry.file, recorded.get(entry.key)
        if f.last_day < first_day or f.first_day > last_day or state is None:
            continue
        if state.status is not FileStatus.INGESTED or state.sha256 is None:
            continue
        if kept(entry.key):
            fetch.append(_planned(entry, Reason.REBUILD, recorded))
        else:
            without_raw.append(entry.key)
    return Plan(fetch=tuple(fetch), held=0, quarantined=()), tuple(without_raw)
