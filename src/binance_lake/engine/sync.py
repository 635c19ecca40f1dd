"""A whole sync: refresh the catalog for the request, resolve symbols, plan, execute, and log the run. A dry run
only plans, from the catalog as it is (`plan_from_catalog`): it lists nothing and writes nothing.

Before planning, every partition the held files of the request wrote is checked against the lake's record of
it (storage.inventory: one `os.stat` each, no reading unless the stat differs). A partition that is gone or
damaged sends its held files back into the plan (`Reason.PARTITION_LOST`); a damaged file is moved aside to
`<root>/damaged/` before the rebuild (never deleted; on an object-storage lake, the bucket's `damaged/`), and
the report lists what was lost.

The caller (`facade.sync.run_sync_stage`, for the `Lake`) holds the lake's writer lock for the duration, so two
syncs never write one lake. How it runs is one `SyncOptions`; the request comes validated
(`engine.sync_request.build_sync_request`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.catalog.queries import has_listings, unlisted_days
from binance_lake.catalog.reads import listed_files, listed_symbols, traded_in
from binance_lake.catalog.refresh import RefreshReport, Selection
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import TABLES_DIR, Partition, partition_paths
from binance_lake.core.progress import ProgressSink
from binance_lake.core.symbols import pair_of
from binance_lake.core.timerange import month_end, month_start
from binance_lake.core.vocabulary import Cadence, Interval, Market, intervals_for
from binance_lake.engine.archive_source import RAW_DIR, ArchiveSource
from binance_lake.engine.cluster.run import ClusterExecutor
from binance_lake.engine.cluster.spec import ClusterSpec
from binance_lake.engine.executor import ExecutionReport, Executor
from binance_lake.engine.plan import CatalogFile, Plan, SyncMode, plan_rebuild, plan_sync
from binance_lake.engine.reconcile import provisional_in, reconcile
from binance_lake.engine.state import FileStatus, RecordedFile, finish_run, recorded, start_run
from binance_lake.engine.sync_listing import monthly_months, refresh_monthly_first, without_months
from binance_lake.storage import objects
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.inventory import (
    Damage,
    Inspection,
    inspect,
    record_partitions,
    recorded_partitions,
    stat_of,
)
from binance_lake.storage.reconciliation import Reconciliation, record_reconciliations
from binance_lake.storage.schema import check_readable

DAMAGED_DIR = "damaged"


@dataclass(frozen=True)
class SyncRequest:
    """What to mirror. `symbols` empty means every symbol of the market (`--all`)."""

    market: Market
    datasets: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date
    intervals: tuple[Interval, ...] = ()
    symbols: tuple[str, ...] = ()
    include_delisted: bool = False

    def validate(self) -> None:
        if not self.datasets:
            raise UsageError("choose at least one dataset (--datasets klines,fundingRate,…)")
        if self.last_day < self.first_day:
            raise UsageError(f"start {self.first_day} is after end {self.last_day}")
        for name in self.datasets:
            spec = get_dataset(name)
            spec.layout(self.market)
            if spec.has_interval and not self.intervals:
                raise UsageError(f"{spec.name} needs --intervals (e.g. 1h,1m)")
        allowed = intervals_for(self.market)
        for interval in self.intervals:
            if interval not in allowed:
                raise UsageError(f"interval {interval.value} does not exist in market {self.market.value}")

    def directories(self, symbols: tuple[str, ...], dataset: str) -> tuple[str, ...]:
        """Archive directory names of `symbols` for `dataset`: index-price klines live under the pair."""
        if get_dataset(dataset).directory_is_pair:
            return tuple(dict.fromkeys(pair_of(s) for s in symbols))
        return symbols


@dataclass(frozen=True)
class SyncOptions:
    """How a sync runs (what it mirrors is the `SyncRequest`): built once by the caller and passed down whole.

    `refresh` lists the request's prefixes before planning; `dry_run` only plans, from the catalog as it is;
    `concurrency` bounds downloads; `keep_raw` keeps the verified zips under `<root>/raw/`;
    `retry_quarantined` fetches quarantined files again even when upstream did not change them. `mode` says
    what the plan starts from (`engine.plan.SyncMode`: resume, from scratch, or rebuild from the kept raw zips,
    which lists and downloads nothing); `repair` reads every held partition of the request whole (not only a
    stat) and rebuilds the damaged ones. `progress` receives the refresh's `Phase.LISTING` events, then the
    `Phase.SYNC` events of the downloads. `cluster` runs the downloads and ingests on Dask workers
    (engine/cluster/; the plan and every record stay here)."""

    mode: SyncMode = SyncMode.RESUME
    refresh: bool = True
    dry_run: bool = False
    concurrency: int = 16
    keep_raw: bool = True
    retry_quarantined: bool = False
    progress: ProgressSink | None = None
    repair: bool = False
    cluster: ClusterSpec | None = None
    # Record how the REST-provisional days the plan's files replace differed (`rest_reconciliations`); off
    # for `update`, which keeps its own provisional days aside for its report.
    reconcile: bool = True


@dataclass(frozen=True)
class Unlisted:
    """Days of one requested series the catalog has never listed (so a plan from it cannot know them)."""

    dataset: str
    interval: str | None
    ranges: tuple[tuple[dt.date, dt.date], ...]

    @property
    def series(self) -> str:
        return f"{self.dataset} {self.interval}" if self.interval else self.dataset


@dataclass(frozen=True)
class SyncReport:
    request: SyncRequest
    symbols: tuple[str, ...]
    plan: Plan
    refresh: RefreshReport | None
    execution: ExecutionReport | None
    dry_run: bool = False
    extras: Mapping[str, object] = field(default_factory=dict)
    # Partitions of held files found gone or damaged before planning (path -> "gone" | "damaged").
    lost_partitions: Mapping[str, str] = field(default_factory=dict)
    # A dry run plans from the catalog as it is: the parts of the request it has never listed.
    unlisted: tuple[Unlisted, ...] = ()
    # REST-provisional days this sync replaced with the archive's rows, and how they differed.
    reconciled: tuple[Reconciliation, ...] = ()

    @property
    def ok(self) -> bool:
        return self.execution is None or self.execution.ok

    def __repr__(self) -> str:
        # Short on purpose: the plan holds every file (a large sync's default repr ran to hundreds of KB).
        execution = self.execution
        counts = (
            f"ingested={execution.ingested}, failed={len(execution.failures)}, rows={execution.rows}"
            if execution is not None
            else "not executed"
        )
        return (
            f"SyncReport(market={self.request.market.value!r}, datasets={list(self.request.datasets)!r}, "
            f"intervals={[i.value for i in self.request.intervals]!r}, symbols={len(self.symbols)}, "
            f"days={self.request.first_day}..{self.request.last_day}, planned={len(self.plan.fetch)}, "
            f"held={self.plan.held}, quarantined_skipped={len(self.plan.quarantined)}, {counts}, "
            f"dry_run={self.dry_run}, ok={self.ok})"
        )

    def summary(self) -> dict[str, object]:
        execution = self.execution
        return {
            "market": self.request.market.value,
            "datasets": list(self.request.datasets),
            "intervals": [i.value for i in self.request.intervals],
            "symbols": list(self.symbols),
            "start": self.request.first_day.isoformat(),
            "end": self.request.last_day.isoformat(),
            "dry_run": self.dry_run,
            "planned_files": len(self.plan.fetch),
            "planned_bytes": self.plan.bytes,
            "held_files": self.plan.held,
            "lost_partitions": dict(self.lost_partitions),
            "quarantined_skipped": list(self.plan.quarantined),
            "unavailable_days": {
                series.path: [d.isoformat() for d in days] for series, days in self.plan.unavailable.items()
            },
            "ingested_files": execution.ingested if execution else 0,
            "rows": execution.rows if execution else 0,
            "bytes": execution.bytes if execution else 0,
            "seconds": round(execution.seconds, 3) if execution else 0.0,
            # Each problem file under one kind: failed (transient, retried next sync) or quarantined now.
            "failed": [
                {"key": f.key, "error": f.error}
                for f in (execution.failures if execution else ())
                if not f.quarantined
            ],
            "quarantined": [
                {"key": f.key, "error": f.error}
                for f in (execution.failures if execution else ())
                if f.quarantined
            ],
            "catalog_unlisted": {
                u.series: [[a.isoformat(), b.isoformat()] for a, b in u.ranges] for u in self.unlisted
            },
            # REST-provisional days replaced by their archive files, with the REST rows that differed.
            "reconciled": [
                {
                    "path": r.path,
                    "day": r.day.isoformat(),
                    "differing_rows": r.differing_rows,
                    "columns": list(r.columns),
                }
                for r in self.reconciled
            ],
            **self.extras,
        }


def resolve_symbols(
    connection: Connection, request: SyncRequest, *, unlisted_ok: bool = False
) -> tuple[str, ...]:
    """The request's symbols checked against the catalog, or for `--all` every symbol that traded on any day
    of the range (`catalog.reads.traded_in`), delisted since or not; `include_delisted` adds the
    `…SETTLED` series of contracts already delisted. With `unlisted_ok` (a dry run, which lists nothing), a
    symbol the catalog never listed for the range is kept rather than refused."""
    if request.symbols:
        known = listed_symbols(connection, request.market)
        unknown = [s for s in request.symbols if s not in known and pair_of(s) not in known]
        if unlisted_ok:
            unknown = [s for s in unknown if not _unlisted(connection, request, (s,))]
        if unknown:
            raise UsageError(
                f"not in the {request.market.value} archive: {', '.join(unknown)} "
                "(check the spelling, or run `binance-lake catalog symbols --markets "
                f"{request.market.value}`)"
            )
        return request.symbols
    traded = traded_in(
        connection,
        request.market,
        list(request.datasets),
        [i.value for i in request.intervals],
        request.first_day,
        request.last_day,
        listings=has_listings(connection),
        include_settled=request.include_delisted,
    )
    return tuple(sorted(traded))


def _unlisted(connection: Connection, request: SyncRequest, symbols: tuple[str, ...]) -> tuple[Unlisted, ...]:
    """The request's days the catalog never listed, per series (every symbol's directory when `symbols` is
    empty, i.e. `--all`)."""
    found: list[Unlisted] = []
    for dataset in request.datasets:
        intervals: list[str | None] = (
            [i.value for i in request.intervals] if get_dataset(dataset).has_interval else [None]
        )
        directories = list(request.directories(symbols, dataset))
        gaps = unlisted_days(
            connection,
            request.market.value,
            [(dataset, i) for i in intervals],
            directories,
            request.first_day,
            request.last_day,
        )
        # The daily days of months whose monthly files the catalog holds are not needed, so not listed
        # (engine/sync_listing.py): not "never listed" for the plan.
        covered = (
            monthly_months(
                connection,
                request.market,
                dataset,
                directories,
                intervals,
                request.first_day,
                request.last_day,
            )
            if gaps
            else set()
        )
        for (d, i), r in gaps.items():
            if kept := without_months(r, covered):
                found.append(Unlisted(d, i, kept))
    return tuple(found)


def plan_from_catalog(
    request: SyncRequest, database: LakeDatabase, mode: SyncMode = SyncMode.RESUME
) -> SyncReport:
    """A dry run: the plan from the catalog and the lake's state as they are, read-only (nothing is listed or
    written, not even a schema), with the parts of the request the catalog never listed. The request comes
    validated (`engine.sync_request.build_sync_request`)."""
    everything = _nothing_listed(request)
    empty = plan_sync([], {}, request.first_day, request.last_day)
    if not database.path.exists():
        return SyncReport(request, request.symbols, empty, None, None, dry_run=True, unlisted=everything)
    with database.connect(read_only=True) as connection:
        check_readable(connection)  # read-only: an older lake is planned from as it is, a newer one refused
        tables = {str(r[0]) for r in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "upstream_files" not in tables:
            return SyncReport(request, request.symbols, empty, None, None, dry_run=True, unlisted=everything)
        symbols = resolve_symbols(connection, request, unlisted_ok=True)
        unlisted = _unlisted(connection, request, request.symbols)
        candidates = catalog_files(connection, request, symbols)
        held = recorded(connection, [c.key for c in candidates]) if "file_state" in tables else {}
        lost: dict[str, CatalogFile] = {}
        lost_partitions: dict[str, str] = {}
        if "file_state" in tables and "partitions" in tables:
            # Read-only: what a real run would rebuild, without recording or moving anything.
            lost, inspection = check_partitions(connection, database.root, candidates, held)
            lost_partitions = {str(p.path): d.value for p, d in sorted(inspection.damaged.items())}
    plan, extras = _plan(mode, candidates, held, request, database.root, lost, False)
    # Days never listed are unknown, not "not in the archive".
    hidden = {(u.dataset, u.interval): u.ranges for u in unlisted}
    unavailable = {
        series: kept
        for series, days in plan.unavailable.items()
        # series[1:3]: its (dataset, interval)
        if (kept := tuple(d for d in days if not _within(d, hidden.get(series[1:3], ()))))
    }
    plan = dataclasses.replace(plan, unavailable=unavailable)
    return SyncReport(
        request,
        symbols,
        plan,
        None,
        None,
        dry_run=True,
        extras=extras,
        unlisted=unlisted,
        lost_partitions=lost_partitions,
    )


def _nothing_listed(request: SyncRequest) -> tuple[Unlisted, ...]:
    whole = ((request.first_day, request.last_day),)
    return tuple(
        Unlisted(d, i.value if i else None, whole)
        for d in request.datasets
        for i in (request.intervals if get_dataset(d).has_interval else (None,))
    )


def _within(day: dt.date, ranges: tuple[tuple[dt.date, dt.date], ...]) -> bool:
    return any(a <= day <= b for a, b in ranges)


def catalog_files(
    connection: Connection, request: SyncRequest, symbols: tuple[str, ...]
) -> list[CatalogFile]:
    """The catalog's files of the requested series that touch the requested days."""
    files: list[CatalogFile] = []
    intervals = [i.value for i in request.intervals]
    for dataset in request.datasets:
        directories = list(request.directories(symbols, dataset))
        if not directories:
            continue
        files.extend(
            CatalogFile(f.key, f.file, f.size, f.etag, f.has_checksum)
            for f in listed_files(
                connection,
                request.market,
                dataset,
                directories,
                intervals,
                request.first_day,
                request.last_day,
            )
        )
    return files


def _writers_of(connection: Connection, partition: Partition) -> list[tuple[str, CatalogFile]]:
    """Every ingested file whose rows are in `partition`, as the catalog entry it was fetched from."""
    rows = connection.execute(
        """
        SELECT key, dataset, symbol, "interval", cadence, period, size, etag, checksum FROM file_state
        WHERE status = ? AND market = ? AND dataset = ? AND symbol = ?
          AND "interval" IS NOT DISTINCT FROM ? AND first_day <= ? AND last_day >= ?
        """,
        [
            FileStatus.INGESTED.value,
            partition.market.value,
            partition.dataset,
            partition.symbol,
            partition.interval.value if partition.interval is not None else None,
            partition.last_day,
            partition.first_day,
        ],
    ).fetchall()
    writers: list[tuple[str, CatalogFile]] = []
    for key, dataset, symbol, interval, cadence, period, size, etag, checksum in rows:
        interval_ = Interval(interval) if interval else None
        file = ArchiveFile(partition.market, Cadence(cadence), dataset, symbol, interval_, period)
        writers.append((key, CatalogFile(key, file, int(size or 0), etag or "", checksum == "verified")))
    return writers


def check_partitions(
    connection: Connection,
    root: Path,
    candidates: list[CatalogFile],
    held: dict[str, RecordedFile],
    *,
    deep: bool = False,
) -> tuple[dict[str, CatalogFile], Inspection]:
    """The cheap always-on check: the partitions the candidates' held files wrote, stat'ed against their
    records. Returns the files to plan again (every writer of a lost partition, by key, as the catalog lists
    it now when it does) and the inspection. Adds the recorded state of writers outside `held` to it."""
    paths = {
        path
        for c in candidates
        if (state := held.get(c.key)) is not None and state.status is FileStatus.INGESTED
        for path in partition_paths(c.file)
    }
    if not paths:
        return {}, Inspection({})
    inspection = inspect(root, paths, recorded_partitions(connection, paths), deep=deep)
    if not inspection.damaged:
        return {}, inspection
    listed = {c.key: c for c in candidates}
    lost: dict[str, CatalogFile] = {}
    for partition in inspection.damaged:
        for key, entry in _writers_of(connection, partition):
            lost[key] = listed.get(key, entry)
    held.update(recorded(connection, [k for k in lost if k not in held]))
    return lost, inspection


def set_aside(root: Path, damaged: Mapping[Partition, Damage]) -> list[Path]:
    """Move damaged partition files to `<root>/damaged/<same path>` so they can be rebuilt (an unreadable
    partition cannot be merged into) without deleting anything. Returns where they went."""
    moved: list[Path] = []
    for partition, damage in sorted(damaged.items()):
        if damage is not Damage.DAMAGED:
            continue
        source = root / partition.path
        target = root / DAMAGED_DIR / partition.path
        if objects.located(source) is not None:
            # An object-storage lake sets it aside in the bucket's `damaged/` (a copy, then the delete).
            if objects.move(source, target):
                moved.append(target)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise StorageError(f"cannot move the damaged partition {source} aside: {error}") from error
        moved.append(target)
    return moved


# `storage.parquet` writes `.<name>.<pid>.<8 hex>.tmp` (and `.duckdb` sort scratch) next to a partition and
# renames it into place; `ingest` splits tick files in `<root>/.ingest-*`. A killed sync leaves them behind.
TEMPORARY_NAME = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|duckdb)(\.wal)?$")
INGEST_SCRATCH = ".ingest-*"


def remove_stale_temporaries(root: Path) -> int:
    """Delete what a killed writer left behind (never visible to readers, but it takes disk). Returns the count.

    Only the holder of the lake's writer lock may call this: it assumes no other write is in flight.
    """
    removed = 0
    for scratch in root.glob(INGEST_SCRATCH):
        shutil.rmtree(scratch, ignore_errors=True)
        removed += 1
    tables = root / TABLES_DIR
    if tables.is_dir():
        for path in tables.rglob(".*"):
            if path.is_file() and TEMPORARY_NAME.match(path.name):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _refresh_selection(request: SyncRequest) -> Selection:
    names: list[str] = []
    for dataset in request.datasets:
        names.extend(request.directories(request.symbols, dataset))
    first, last = request.first_day, request.last_day
    if not request.symbols:
        # `--all` decides who traded day by day: the daily files of the range's whole months tell a monthly
        # file of a symbol delisted (or listed) inside the month from trading days (`traded_sql`).
        first, last = month_start(first), month_end(last)
    return Selection(
        markets=(request.market,),
        datasets=request.datasets,
        symbols=tuple(dict.fromkeys(names)),
        intervals=request.intervals,
        first_day=first,
        last_day=last,
    )


def _plan(
    mode: SyncMode,
    candidates: list[CatalogFile],
    held: dict[str, RecordedFile],
    request: SyncRequest,
    root: Path,
    lost: dict[str, CatalogFile],
    retry_quarantined: bool,
) -> tuple[Plan, dict[str, object]]:
    """The plan of `mode` (`SyncMode`), and what the report adds for it (`mode`, and for a rebuild the held
    files whose raw zip is not kept)."""
    extras: dict[str, object] = {} if mode is SyncMode.RESUME else {"mode": mode.value}
    if mode is SyncMode.REBUILD:
        plan, without_raw = plan_rebuild(
            candidates,
            held,
            request.first_day,
            request.last_day,
            lambda key: stat_of(root / RAW_DIR / key) is not None,  # a file, or the bucket's object
        )
        return plan, {**extras, "rebuild_without_raw": list(without_raw)}
    recorded_state = {} if mode is SyncMode.FROM_SCRATCH else held
    plan = plan_sync(
        candidates,
        recorded_state,
        request.first_day,
        request.last_day,
        lost={} if mode is SyncMode.FROM_SCRATCH else lost,
        retry_quarantined=retry_quarantined,
    )
    return plan, extras


async def run_sync(
    request: SyncRequest,
    *,
    client: ArchiveClient,
    database: LakeDatabase,
    archive_url: str,
    options: SyncOptions = SyncOptions(),
) -> SyncReport:
    """Mirror the request into the lake as `options` say; see the module docstring. The request comes
    validated (`engine.sync_request.build_sync_request` validates it, once)."""
    if options.dry_run:
        return plan_from_catalog(request, database, options.mode)
    ensure_catalog(database)  # every table of lake.duckdb (storage/schema.py), upgraded once a process
    refreshed = None
    if options.refresh and options.mode is not SyncMode.REBUILD:  # a rebuild asks upstream nothing
        # Monthly files first, daily ones only where no monthly file covers the days (engine/sync_listing.py).
        refreshed = await refresh_monthly_first(
            client,
            database,
            _refresh_selection(request),
            archive_url=archive_url,
            progress=options.progress,
        )
    with database.connect() as connection:
        symbols = resolve_symbols(connection, request)
        candidates = catalog_files(connection, request, symbols)
        held = recorded(connection, [c.key for c in candidates])
        lost, inspection = check_partitions(connection, database.root, candidates, held, deep=options.repair)
        if inspection.refreshed:
            record_partitions(connection, inspection.refreshed)
    plan, extras = _plan(
        options.mode, candidates, held, request, database.root, lost, options.retry_quarantined
    )
    lost_partitions = {str(p.path): d.value for p, d in sorted(inspection.damaged.items())}
    remove_stale_temporaries(database.root)
    set_aside(database.root, inspection.damaged)
    run_id = uuid.uuid4().hex
    with database.connect() as connection:
        start_run(connection, run_id, {"symbols": list(symbols), "request": repr(request)})
        kept = (
            provisional_in(connection, database.root, [p.file for p in plan.fetch])
            if options.reconcile
            else []
        )
    executor: Executor | ClusterExecutor
    if options.cluster is None:
        executor = Executor(
            ArchiveSource(client, database.root, keep_raw=options.keep_raw),
            database,
            database.root,
            concurrency=options.concurrency,
            progress=options.progress,
        )
    else:
        extras = {**extras, "cluster": options.cluster.text}
        executor = ClusterExecutor(
            options.cluster,
            database,
            database.root,
            concurrency=options.concurrency,
            keep_raw=options.keep_raw,
            progress=options.progress,
        )
    execution = await executor.run(plan)
    if options.cluster is not None:
        # Every item is recorded and no worker writes any more: what a worker that died midway left goes.
        remove_stale_temporaries(database.root)
    reconciled: tuple[Reconciliation, ...] = ()
    with database.connect() as connection:
        if kept:
            reconciled = reconcile(connection, database.root, kept, set()).reconciled
            record_reconciliations(connection, reconciled)
        report = SyncReport(
            request,
            symbols,
            plan,
            refreshed,
            execution,
            lost_partitions=lost_partitions,
            extras=extras,
            reconciled=reconciled,
        )
        finish_run(connection, run_id, report.summary())
    return report
