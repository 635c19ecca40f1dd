"""Per-file sync state in the lake's DuckDB database: what was planned, downloaded, verified, ingested,
failed or quarantined, with reason and attempts, plus a log of sync runs.

One row per archive key (the latest state). The state is written after each step, so a sync killed at any
moment (even `kill -9`) resumes from what is recorded: a file marked ingested is in its partitions; anything
else is fetched or ingested again, which is idempotent because ingesting a file replaces its days.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.provenance import Provenance as Provenance  # re-exported: moved to core
from binance_lake.storage.database import Connection, LakeDatabase, one_transaction
from binance_lake.storage.inventory import PartitionRecord, record_partitions
from binance_lake.storage.parquet import make_durable
from binance_lake.storage.provenance import DayRecord, record_days
from binance_lake.storage.schema import FAILED_BYTES, STATE_TABLES
from binance_lake.storage.schema import FileStatus as FileStatus  # re-exported: the table owner's vocabulary

# Declared in storage/schema.py, the one owner of lake.duckdb's schema.
STATE_SCHEMA: tuple[str, ...] = (*STATE_TABLES, FAILED_BYTES)


@dataclass(frozen=True)
class FileState:
    """The recorded state of one archive file."""

    key: str
    file: ArchiveFile
    status: FileStatus
    etag: str | None = None
    size: int | None = None
    sha256: str | None = None
    checksum: str | None = None  # "verified", or "missing" when upstream publishes no .CHECKSUM (#469)
    rows: int | None = None
    attempts: int = 0
    error: str | None = None
    failed_bytes: str | None = (
        None  # what identifies the bytes that failed verification (see storage/schema.py)
    )

    @property
    def provenance(self) -> Provenance:
        return Provenance.of_archive(self.file.cadence)


_BATCH_FIELDS: list[pa.Field[Any]] = [
    pa.field("key", pa.string()),
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("cadence", pa.string()),
    pa.field("period", pa.date32()),
    pa.field("first_day", pa.date32()),
    pa.field("last_day", pa.date32()),
    pa.field("status", pa.string()),
    pa.field("etag", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("checksum", pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("attempts", pa.int32()),
    pa.field("error", pa.string()),
    pa.field("provenance", pa.string()),
    pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    pa.field("failed_bytes", pa.string()),
]
_BATCH_SCHEMA = pa.schema(_BATCH_FIELDS)


def _row(state: FileState, now: dt.datetime) -> tuple[object, ...]:
    f = state.file
    return (
        state.key,
        f.market.value,
        f.dataset,
        f.symbol,
        f.interval.value if f.interval is not None else None,
        f.cadence.value,
        f.period,
        f.first_day,
        f.last_day,
        state.status.value,
        state.etag,
        state.size,
        state.sha256,
        state.checksum,
        state.rows,
        state.attempts,
        state.error,
        state.provenance.value,
        now,
        state.failed_bytes,
    )


def record(connection: Connection, states: Iterable[FileState], *, now: dt.datetime | None = None) -> None:
    """Replace the recorded state of each file (one transaction)."""
    stamp = now or dt.datetime.now(dt.UTC)
    rows = [_row(s, stamp) for s in states]
    if not rows:
        return
    # One Arrow batch instead of `executemany`, which costs about a millisecond per row in DuckDB; built
    # column by column, not from a dict per row.
    columns = zip(*rows, strict=True)
    batch = pa.Table.from_arrays(
        [pa.array(values, type=f.type) for values, f in zip(columns, _BATCH_FIELDS, strict=True)],
        schema=_BATCH_SCHEMA,
    )
    connection.register("file_state_batch", batch)
    try:
        with one_transaction(connection):
            connection.execute("DELETE FROM file_state WHERE key IN (SELECT key FROM file_state_batch)")
            # By name: columns added later (ALTER TABLE) sit at the end of an older lake's table.
            connection.execute("INSERT INTO file_state BY NAME SELECT * FROM file_state_batch")
    finally:
        connection.unregister("file_state_batch")


@dataclass(frozen=True)
class RecordedFile:
    """The planner's view of a recorded file: enough to decide whether to fetch it again."""

    key: str
    status: FileStatus
    etag: str | None
    size: int | None
    attempts: int
    # The sha256 of the bytes that were ingested: a lost partition is rebuilt from the kept raw zip when it
    # still matches (engine.archive_source), without asking upstream.
    sha256: str | None = None


def recorded(connection: Connection, keys: Iterable[str] | None = None) -> dict[str, RecordedFile]:
    """Recorded states, all or for `keys`."""
    sql = "SELECT key, status, etag, size, attempts, sha256 FROM file_state"
    if keys is None:
        rows = connection.execute(sql).fetchall()
    else:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = connection.execute(sql + " WHERE list_contains(?, key)", [wanted]).fetchall()
    return {k: RecordedFile(k, FileStatus(s), e, z, int(a), sha) for k, s, e, z, a, sha in rows}


def failed_bytes(connection: Connection, keys: Iterable[str]) -> dict[str, str]:
    """The recorded fingerprint of the bytes each of `keys` last failed verification with, where there is one."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = connection.execute(
        "SELECT key, failed_bytes FROM file_state WHERE failed_bytes IS NOT NULL AND list_contains(?, key)",
        [wanted],
    ).fetchall()
    return {key: value for key, value in rows}


def mark_superseded(connection: Connection, monthly: ArchiveFile) -> None:
    """Daily files of the month a monthly file now holds are superseded (their rows were replaced)."""
    mark_all_superseded(connection, (monthly,))


_SUPERSEDED_FIELDS: list[pa.Field[Any]] = [
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("first_day", pa.date32()),
    pa.field("last_day", pa.date32()),
]
_SUPERSEDED_SCHEMA = pa.schema(_SUPERSEDED_FIELDS)


def mark_all_superseded(connection: Connection, monthly: Sequence[ArchiveFile]) -> None:
    """`mark_superseded` for many monthly files in one statement (one `UPDATE` per file cost ~1 ms each)."""
    if not monthly:
        return
    batch = pa.Table.from_pylist(
        [
            {
                "market": m.market.value,
                "dataset": m.dataset,
                "symbol": m.symbol,
                "interval": m.interval.value if m.interval is not None else None,
                "first_day": m.first_day,
                "last_day": m.last_day,
            }
            for m in monthly
        ],
        schema=_SUPERSEDED_SCHEMA,
    )
    connection.register("superseded_batch", batch)
    try:
        connection.execute(
            """
            UPDATE file_state SET status = ?, updated_at = ?
            FROM superseded_batch AS m
            WHERE file_state.cadence = 'daily' AND file_state.status = ? AND file_state.market = m.market
              AND file_state.dataset = m.dataset AND file_state.symbol = m.symbol
              AND file_state."interval" IS NOT DISTINCT FROM m."interval"
              AND file_state.period BETWEEN m.first_day AND m.last_day
            """,
            [FileStatus.SUPERSEDED.value, dt.datetime.now(dt.UTC), FileStatus.INGESTED.value],
        )
    finally:
        connection.unregister("superseded_batch")


class StateWriter:
    """Batches state changes and writes them every `interval` seconds from a background task.

    Opening the database per change would cost more than the downloads; a state that lags by a moment only
    means a killed sync redoes a little work, which is idempotent. Each write is one batch: its partitions made
    durable together, then one connection and one transaction. Every write opens and closes the database
    (~20-40 ms with its checkpoint), so that `status` in another process can read between them; a second
    between writes keeps that under a few percent of a run. Use as `async with writer:`; leaving the block
    writes everything still pending.
    """

    def __init__(self, database: LakeDatabase, *, interval: float = 1.0) -> None:
        self.database = database
        self.interval = interval
        self._pending: list[FileState] = []
        self._superseded: list[ArchiveFile] = []
        self._partitions: list[PartitionRecord] = []
        self._days: list[DayRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Writes must not overlap: two transactions replacing the same key conflict in DuckDB, and a later
        # state written before an earlier one would be overwritten by it.
        self._writing = asyncio.Lock()

    def submit(self, states: Iterable[FileState]) -> None:
        self._pending.extend(states)

    def supersede(self, monthly: ArchiveFile) -> None:
        self._superseded.append(monthly)

    def published(self, records: Iterable[PartitionRecord]) -> None:
        """Record partition files as written (storage.inventory); submit them before the files' states."""
        self._partitions.extend(records)

    def provenance(self, records: Iterable[DayRecord]) -> None:
        """Record where each written day's rows came from (storage.provenance); submit with `published`."""
        self._days.extend(records)

    def _write(
        self,
        states: list[FileState],
        superseded: list[ArchiveFile],
        partitions: list[PartitionRecord] | None = None,
        days: list[DayRecord] | None = None,
    ) -> None:
        # The batch's durability barrier: its partitions were renamed into place without fsyncs (ingest's
        # `durable=False`); they are made durable together before any state says they were ingested. A crash
        # before this point loses at most this batch, whose files are not recorded as ingested and are done
        # again by the next run.
        make_durable(self.database.root / record.partition.path for record in partitions or ())
        with self.database.connect() as connection, one_transaction(connection):
            # One transaction: the partitions, their days and the files' states are recorded together or not
            # at all, so never a file marked ingested whose partition or days have no current record.
            record_partitions(connection, partitions or ())
            record_days(connection, days or ())
            # Later states of the same key win.
            record(connection, list({s.key: s for s in states}.values()))
            mark_all_superseded(connection, superseded)

    async def flush(self) -> None:
        async with self._writing:
            states, self._pending = self._pending, []
            superseded, self._superseded = self._superseded, []
            partitions, self._partitions = self._partitions, []
            days, self._days = self._days, []
            if states or superseded or partitions or days:
                await asyncio.to_thread(self._write, states, superseded, partitions, days)

    async def _loop(self) -> None:
        # Stopped by an event, not by cancellation: cancelling `to_thread` would leave its write running
        # in the thread while the final flush starts another.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            await self.flush()

    async def __aenter__(self) -> StateWriter:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
        await self.flush()


def start_run(connection: Connection, run_id: str, request: Mapping[str, object]) -> None:
    connection.execute(
        "INSERT INTO sync_runs VALUES (?, ?, NULL, ?, NULL)",
        [run_id, dt.datetime.now(dt.UTC), json.dumps(request, default=str)],
    )


def finish_run(connection: Connection, run_id: str, summary: Mapping[str, object]) -> None:
    connection.execute(
        "UPDATE sync_runs SET finished_at = ?, summary = ? WHERE run_id = ?",
        [dt.datetime.now(dt.UTC), json.dumps(summary, default=str), run_id],
    )
