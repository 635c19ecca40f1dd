"""A whole sync: refresh the catalog for the request, resolve symbols, plan, execute, and log the run.

The caller (the `Lake`) holds the lake's writer lock for the duration, so two syncs never write one lake.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.catalog.refresh import RefreshProgress, RefreshReport, Selection, refresh
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.symbols import pair_of
from binance_lake.core.vocabulary import Cadence, Interval, Market, intervals_for
from binance_lake.engine.executor import ExecutionReport, Executor, SyncProgress
from binance_lake.engine.plan import CatalogFile, Plan, Series, plan_sync
from binance_lake.engine.state import STATE_SCHEMA, finish_run, recorded, start_run
from binance_lake.storage.database import Connection, LakeDatabase


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
class SyncReport:
    request: SyncRequest
    symbols: tuple[str, ...]
    plan: Plan
    refresh: RefreshReport | None
    execution: ExecutionReport | None
    dry_run: bool = False
    extras: Mapping[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.execution is None or self.execution.ok

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
            "quarantined_skipped": list(self.plan.quarantined),
            "unavailable_days": {
                "/".join(x for x in series if x): [d.isoformat() for d in days]
                for series, days in self.plan.unavailable.items()
            },
            "ingested_files": execution.ingested if execution else 0,
            "rows": execution.rows if execution else 0,
            "bytes": execution.bytes if execution else 0,
            "seconds": round(execution.seconds, 3) if execution else 0.0,
            "failed": [
                {"key": f.key, "error": f.error, "quarantined": f.quarantined}
                for f in (execution.failures if execution else ())
            ],
        }


def resolve_symbols(connection: Connection, request: SyncRequest) -> tuple[str, ...]:
    """The request's symbols checked against the catalog, or every symbol alive in the range for `--all`."""
    if request.symbols:
        known = {
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT symbol FROM upstream_files WHERE market = ? AND NOT gone",
                [request.market.value],
            ).fetchall()
        }
        unknown = [s for s in request.symbols if s not in known and pair_of(s) not in known]
        if unknown:
            raise UsageError(
                f"not in the {request.market.value} archive: {', '.join(unknown)} "
                "(check the spelling, or run `binance-lake catalog symbols --market "
                f"{request.market.value}`)"
            )
        return request.symbols
    rows = connection.execute(
        """
        SELECT symbol FROM symbols
        WHERE market = ? AND first_day <= ? AND last_day >= ? AND (? OR NOT delisted)
        ORDER BY symbol
        """,
        [request.market.value, request.last_day, request.first_day, request.include_delisted],
    ).fetchall()
    return tuple(r[0] for r in rows)


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
        rows = connection.execute(
            """
            SELECT key, cadence, symbol, "interval", period, size, etag, checksum_size IS NOT NULL
            FROM upstream_files
            WHERE NOT gone AND market = ? AND dataset = ? AND list_contains(?, symbol)
              AND ("interval" IS NULL OR list_contains(?, "interval"))
              AND last_day >= ? AND first_day <= ?
            ORDER BY key
            """,
            [request.market.value, dataset, directories, intervals, request.first_day, request.last_day],
        ).fetchall()
        for key, cadence, symbol, interval, period, size, etag, has_checksum in rows:
            file = ArchiveFile(
                request.market,
                Cadence(cadence),
                dataset,
                symbol,
                Interval(interval) if interval else None,
                period,
            )
            files.append(CatalogFile(key, file, int(size or 0), etag or "", bool(has_checksum)))
    return files


# `storage.parquet` writes `.<name>.<pid>.<8 hex>.tmp` (and `.duckdb` sort scratch) next to a partition and
# renames it into place; `ingest` splits tick files in `<root>/.ingest-*`. A killed sync leaves them behind.
_TEMPORARY = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|duckdb)(\.wal)?$")
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
            if path.is_file() and _TEMPORARY.match(path.name):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _refresh_selection(request: SyncRequest) -> Selection:
    names: list[str] = []
    for dataset in request.datasets:
        names.extend(request.directories(request.symbols, dataset))
    return Selection(
        markets=(request.market,),
        datasets=request.datasets,
        symbols=tuple(dict.fromkeys(names)),
        intervals=request.intervals,
        first_day=request.first_day,
        last_day=request.last_day,
    )


async def run_sync(
    request: SyncRequest,
    *,
    client: ArchiveClient,
    database: LakeDatabase,
    archive_url: str,
    refresh_catalog: bool = True,
    dry_run: bool = False,
    concurrency: int = 16,
    keep_raw: bool = True,
    progress: SyncProgress | None = None,
    refresh_progress: RefreshProgress | None = None,
    retry_quarantined: bool = False,
) -> SyncReport:
    """Mirror the request into the lake; see the module docstring. `retry_quarantined` fetches quarantined
    files again even when upstream did not change them."""
    request.validate()
    ensure_catalog(database)
    database.ensure_schema(STATE_SCHEMA)
    refreshed = None
    if refresh_catalog:
        refreshed = await refresh(
            client, database, _refresh_selection(request), archive_url=archive_url, progress=refresh_progress
        )
    with database.connect() as connection:
        symbols = resolve_symbols(connection, request)
        candidates = catalog_files(connection, request, symbols)
        held = recorded(connection, [c.key for c in candidates])
    plan = plan_sync(
        candidates, held, request.first_day, request.last_day, retry_quarantined=retry_quarantined
    )
    if dry_run:
        return SyncReport(request, symbols, plan, refreshed, None, dry_run=True)
    remove_stale_temporaries(database.root)
    run_id = uuid.uuid4().hex
    with database.connect() as connection:
        start_run(connection, run_id, {"symbols": list(symbols), "request": repr(request)})
    executor = Executor(
        client, database, database.root, concurrency=concurrency, keep_raw=keep_raw, progress=progress
    )
    execution = await executor.run(plan)
    report = SyncReport(request, symbols, plan, refreshed, execution)
    with database.connect() as connection:
        finish_run(connection, run_id, report.summary())
    return report


def unavailable_text(unavailable: Mapping[Series, tuple[dt.date, ...]]) -> list[str]:
    """One line per series with days no archive file covers (missing upstream, e.g. 404 days)."""
    lines = []
    for series, days in sorted(unavailable.items(), key=lambda kv: tuple(x or "" for x in kv[0])):
        name = "/".join(x for x in series if x)
        shown = ", ".join(d.isoformat() for d in days[:10]) + (" …" if len(days) > 10 else "")
        lines.append(f"{name}: {len(days)} day(s) not in the archive: {shown}")
    return lines
