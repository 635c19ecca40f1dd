"""Execute a sync plan against a `Source` (engine/source.py; the archive's is engine/archive_source.py):
bounded-concurrency fetches, the verify-attempt loop, ingest in worker threads, and the state of every file
recorded as it moves.

Downloads of one monthly partition's files are ingested together once the last of them is verified, so a month
synced as daily files is written once. Monthly partitions that are ready while every ingest worker is busy wait
in a queue, and the next free worker takes up to `INGEST_BATCH_BYTES` of them in one `ingest_many` call (their
small CSVs parsed together: most of a small file's parse is fixed cost); a batch is never waited for. A file
whose *same bytes* fail verification again on a fresh download (in
this run or against the bytes recorded by an earlier one) is quarantined with its reason and never ingested; a
file that keeps failing differently, or transiently, is recorded as failed (and planned again next time). A run
that is cancelled (the stall rule, Ctrl-C) records its files in flight as failed, so the next run resumes them.
Every failure ends up in the report and in `file_state`; nothing is skipped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import (
    BinanceLakeError,
    ChecksumMismatch,
    IntegrityError,
    ParseError,
    StorageError,
)
from binance_lake.core.partitions import Partition
from binance_lake.core.progress import Phase, Progress, ProgressEvent, ProgressSink
from binance_lake.core.provenance import Provenance
from binance_lake.core.vocabulary import Cadence
from binance_lake.engine.ingest import Verified, group_for_ingest, ingest, ingest_many
from binance_lake.engine.plan import Plan, PlannedFile, Reason
from binance_lake.engine.source import BytesProgress, Payload, Source
from binance_lake.engine.state import FileState, FileStatus, StateWriter, failed_bytes
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord
from binance_lake.storage.provenance import DayRecord

VERIFY_ATTEMPTS = 4
"""Verification attempts per file. The same bytes failing twice (same computed sha256, size and ETag against the
same published sha256, or the same bad `.CHECKSUM` bytes) are upstream's and quarantine the file; failures that
differ each time are damage in transit, retried up to this many times and then recorded as failed (so the next
sync tries again)."""
INTERRUPTED = "the run stopped before this file was finished; the next sync resumes it"

INGEST_BATCH_BYTES = 4 * 1024**2
"""Listed zip bytes one ingest worker takes from the queue of ready monthly partitions at once (at least one
partition): ~100 monthly 1h files, or two 1m ones, so big files still spread over the workers."""


@dataclass
class SyncProgress:
    """Deprecated, goes in the next release: the old sync counters, kept as a `ProgressSink` that copies
    `Phase.SYNC` events into its fields. Pass any callable taking a `ProgressEvent` instead."""

    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    failures: int = 0
    rows: int = 0
    on_update: Callable[[SyncProgress], None] | None = None

    def __post_init__(self) -> None:
        warnings.warn(
            "SyncProgress is deprecated: pass a callable taking a binance_lake.core.progress.ProgressEvent",
            DeprecationWarning,
            stacklevel=3,
        )

    def __call__(self, event: ProgressEvent, /) -> None:
        if event.phase is Phase.SYNC:
            self.files_total, self.files_done = event.total or 0, event.done
            self.bytes_total, self.bytes_done = event.bytes_total or 0, event.bytes_done
            self.failures, self.rows = event.failures, event.rows
            if self.on_update is not None:
                self.on_update(self)


@dataclass(frozen=True)
class FileFailure:
    key: str
    error: str
    quarantined: bool


@dataclass(frozen=True)
class ExecutionReport:
    ingested: int
    rows: int
    bytes: int
    failures: tuple[FileFailure, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures


def _signature(error: IntegrityError) -> str:
    """What identifies a verification failure across attempts and runs: the failing bytes when known."""
    if error.fingerprint is not None:
        return error.fingerprint
    if isinstance(error, ChecksumMismatch):
        return f"{error.expected}:{error.actual}"
    return str(error)


class Recorder(Protocol):
    """Where the executor sends what it learns: `StateWriter` (engine/state.py) writes it to lake.duckdb; a
    cluster worker collects it instead and returns it to the client, the only writer (engine/cluster/)."""

    def submit(self, states: Iterable[FileState]) -> None: ...
    def supersede(self, monthly: ArchiveFile) -> None: ...
    def published(self, records: Iterable[PartitionRecord]) -> None: ...
    def provenance(self, records: Iterable[DayRecord]) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


@dataclass
class _Group:
    """The files ingested together (one monthly partition, or one tick file) and how many are still due."""

    target: Partition | str
    waiting: int
    ready: list[Payload] = field(default_factory=list)


class Executor:
    """Runs a plan against any `Source` (engine/source.py); the archive's is `ArchiveSource`.

    `run(plan)` is the local sync: it records the plan and reads the bytes that failed before from
    `database`, then `execute`s. A cluster worker calls `execute` itself with a `recorder` that collects
    instead of writing (no `database`: the client alone writes lake.duckdb)."""

    def __init__(
        self,
        source: Source,
        database: LakeDatabase | None,
        root: Path,
        *,
        concurrency: int = 16,
        ingest_workers: int = 2,
        progress: ProgressSink | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.source = source
        self.database = database
        self.root = root
        # Files, bytes, rows and failures as `Phase.SYNC` events to the caller's sink.
        self.progress = Progress(Phase.SYNC, progress)
        self._downloads = asyncio.Semaphore(concurrency)
        self._ingests = asyncio.Semaphore(ingest_workers)
        self._failures: list[FileFailure] = []
        self._ingested = 0
        self._bytes = 0
        self._planned: dict[str, PlannedFile] = {}
        self._groups: dict[str, _Group] = {}
        self._downloaded: dict[str, FileState] = {}
        self._counted: dict[str, int] = {}  # bytes of each file counted toward the progress so far
        self._failed_before: dict[str, str] = {}
        self._queued: list[_Group] = []  # ready monthly partitions waiting for an ingest worker
        if recorder is None:
            if database is None:
                raise TypeError("an Executor needs a database or a recorder")
            recorder = StateWriter(database)
        self._writer: Recorder = recorder

    # -- state ----------------------------------------------------------------------------------------

    def _record(self, *states: FileState) -> None:
        self._writer.submit(states)

    def _state(self, planned: PlannedFile, status: FileStatus) -> FileState:
        entry = planned.entry
        return FileState(key=entry.key, file=entry.file, status=status, etag=entry.etag, size=entry.size)

    def _fail(
        self,
        planned: PlannedFile,
        error: BaseException | str,
        *,
        quarantine: bool,
        attempts: int,
        bad_bytes: str | None = None,
    ) -> None:
        status = FileStatus.QUARANTINED if quarantine else FileStatus.FAILED
        message = error if isinstance(error, str) else str(error) or type(error).__name__
        self._failures.append(FileFailure(planned.key, message, quarantine))
        self.progress.add(failures=1)
        state = self._state(planned, status)
        self._record(dataclasses.replace(state, error=message, attempts=attempts, failed_bytes=bad_bytes))

    # -- fetch and verify ---------------------------------------------------------------------------

    def _downloaded_as(self, planned: PlannedFile, payload: Payload, attempts: int) -> Payload:
        """Record `payload` as downloaded (its sha256 and checksum status are what ingest later records)."""
        downloaded = dataclasses.replace(
            self._state(planned, FileStatus.DOWNLOADED),
            sha256=payload.sha256,
            checksum=payload.checksum,
            attempts=attempts,
        )
        self._downloaded[planned.key] = downloaded
        self._record(downloaded)
        if (size := planned.entry.size) is not None:
            # A kept zip, or a resumed `.part`, brought bytes this run did not receive: the file is whole now.
            self._count_bytes(planned.key, size - self._counted.get(planned.key, 0), size)
        return payload

    async def _download(self, planned: PlannedFile) -> Payload | None:
        if (kept := await self.source.reusable(planned)) is not None:
            return self._downloaded_as(planned, kept, attempts=1)
        # Bytes an earlier run saw fail, reproduced by a fresh download here, are upstream's too.
        before = self._failed_before.get(planned.key)
        seen: set[str] = {before} if before else set()
        last: IntegrityError | None = None
        attempt = 0
        try:
            for attempt in range(1, VERIFY_ATTEMPTS + 1):
                try:
                    payload = await self.source.fetch(planned, attempt, self._bytes_of(planned))
                except IntegrityError as error:
                    # A wrong checksum (#405, #498) or a bad `.CHECKSUM` repeats byte for byte; bytes damaged
                    # in transit differ from one attempt to the next.
                    signature = _signature(error)
                    if signature in seen:
                        self._fail(planned, error, quarantine=True, attempts=attempt, bad_bytes=signature)
                        return None
                    seen.add(signature)
                    last = error
                except BinanceLakeError as error:
                    self._fail(planned, error, quarantine=False, attempts=attempt)
                    return None
                else:
                    self._bytes += payload.transferred
                    return self._downloaded_as(planned, payload, attempts=attempt)
        except asyncio.CancelledError:
            # Stopped from outside (the stall rule, Ctrl-C): failed, not quarantined, so the next run resumes.
            self._fail(planned, INTERRUPTED, quarantine=False, attempts=attempt)
            raise
        assert last is not None
        self._fail(planned, last, quarantine=False, attempts=attempt, bad_bytes=_signature(last))
        return None

    def _bytes_of(self, planned: PlannedFile) -> BytesProgress:
        """The progress callback of one file's download."""
        size = planned.entry.size
        return lambda count: self._count_bytes(planned.key, count, size)

    def _count_bytes(self, key: str, count: int, size: int | None) -> None:
        """Count `count` bytes of `key` toward the progress, never more than its listed `size` in all: a body
        that broke off and was fetched again from its start, or failed its checksum and came again, arrives
        twice, and counting it twice would show more bytes done than the plan holds."""
        counted = self._counted.get(key, 0)
        if size is not None:
            count = max(0, min(count, size - counted))
        if count:
            self._counted[key] = counted + count
            self.progress.add(bytes_done=count)

    # -- ingest ---------------------------------------------------------------------------------------

    async def _ingest_group(self, group: _Group) -> None:
        async with self._ingests:
            published: list[PartitionRecord] = []
            try:
                rows = await self._ingest_to_end(group, published)
            except StorageError as error:
                # Our disk failed, not the file: record it as failed so the next sync tries again.
                for item in group.ready:
                    self._fail(self._planned[item.key], error, quarantine=False, attempts=1)
                return
            except (ParseError, IntegrityError) as error:
                if len(group.ready) == 1:
                    # Verified bytes that cannot be read (e.g. the unreadable spot zips of issue #469).
                    self._fail(self._planned[group.ready[0].key], error, quarantine=True, attempts=1)
                    return
                # Find the bad file: ingest the group's files one by one.
                for item in group.ready:
                    await self._ingest_group(_Group(group.target, 0, [item]))
                return
        self._record_ingested(group, rows, published)
        for item in group.ready:
            self.source.release(item)

    async def _ingest_queued(self, group: _Group) -> None:
        """Queue a ready monthly partition; the next free ingest worker takes it with the others queued."""
        self._queued.append(group)
        try:
            await self._ingests.acquire()
        except asyncio.CancelledError:
            # Stopped while waiting: no worker may take it after this task is gone (as a waiting group alone).
            with contextlib.suppress(ValueError):
                self._queued.remove(group)
            raise
        try:
            batch = self._take_batch()
            if not batch:
                return  # another worker took this group with its batch
            outcomes = await self._ingest_batch_to_end(batch)
        finally:
            self._ingests.release()
        for each, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Ingested again alone, where its error is handled as any single group's.
                await self._ingest_group(each)
            else:
                rows, published = outcome
                self._record_ingested(each, rows, published)
                for item in each.ready:
                    self.source.release(item)

    def _take_batch(self) -> list[_Group]:
        batch: list[_Group] = []
        size = 0
        while self._queued:
            group = self._queued[0]
            bytes_ = sum(self._planned[item.key].entry.size or 0 for item in group.ready)
            if batch and size + bytes_ > INGEST_BATCH_BYTES:
                break
            batch.append(self._queued.pop(0))
            size += bytes_
        return batch

    async def _ingest_batch_to_end(
        self, batch: list[_Group]
    ) -> list[tuple[dict[str, int], list[PartitionRecord]] | Exception]:
        """`ingest_many` in a worker thread, cancelled as `_ingest_to_end` is: a cancelled run waits for it
        and records the groups it ingested."""
        published: list[list[PartitionRecord]] = [[] for _ in batch]
        groups = [(group.target, group.ready) for group in batch]
        job = asyncio.ensure_future(
            asyncio.to_thread(ingest_many, self.root, groups, published, durable=False)
        )

        def paired(results: list[dict[str, int] | BinanceLakeError]) -> list[Any]:
            return [
                r if isinstance(r, Exception) else (r, p) for r, p in zip(results, published, strict=True)
            ]

        try:
            return paired(await asyncio.shield(job))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                for group, outcome in zip(batch, paired(await job), strict=True):
                    if not isinstance(outcome, Exception):
                        self._record_ingested(group, *outcome)
            raise

    async def _ingest_to_end(self, group: _Group, published: list[PartitionRecord]) -> dict[str, int]:
        """Ingest in a worker thread, which cancelling cannot stop: a cancelled run waits for it (a local,
        bounded step) and records it, so no write outlives the run and no ingested file is forgotten."""
        job = asyncio.ensure_future(
            # Not durable here: the state writer fsyncs each batch's partitions together before recording them.
            asyncio.to_thread(ingest, self.root, group.target, group.ready, published, durable=False)
        )
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._record_ingested(group, await job, published)
            raise

    def _record_ingested(self, group: _Group, rows: dict[str, int], published: list[PartitionRecord]) -> None:
        self._writer.published(published)
        self._writer.provenance(self._day_records(group, published))
        for item in group.ready:
            downloaded = self._downloaded[item.key]
            self._record(dataclasses.replace(downloaded, status=FileStatus.INGESTED, rows=rows[item.key]))
            self._ingested += 1
            self.progress.add(rows=rows[item.key])
        monthly = [item.file for item in group.ready if item.file.cadence is Cadence.MONTHLY]
        for file in monthly:
            self._writer.supersede(file)

    def _day_records(self, group: _Group, published: list[PartitionRecord]) -> list[DayRecord]:
        """Each day the group's partitions replaced, with the archive file (key, ETag) its rows came from."""
        files = {item.key: item.file for item in group.ready}
        return [
            DayRecord(
                record.partition,
                day.day,
                Provenance.of_archive(files[day.upstream_ref].cadence),
                day.upstream_ref,
                self._downloaded[day.upstream_ref].etag,
                day.rows,
            )
            for record in published
            for day in record.days
            if day.upstream_ref in files
        ]

    async def _one(self, planned: PlannedFile) -> None:
        async with self._downloads:
            verified = await self._download(planned)
        group = self._groups[planned.key]
        group.waiting -= 1
        if verified is not None:
            group.ready.append(verified)
        self.progress.add(done=1)
        if group.waiting == 0 and group.ready:
            if isinstance(group.target, Partition):
                await self._ingest_queued(group)
            else:
                await self._ingest_group(group)

    async def run(self, plan: Plan) -> ExecutionReport:
        started = time.monotonic()
        self.progress.expect(len(plan.fetch), bytes_=plan.bytes)
        self._record(*(self._state(p, FileStatus.PLANNED) for p in plan.fetch if p.reason is Reason.NEW))
        before: dict[str, str] = {}
        if plan.fetch and self.database is not None:
            with self.database.connect() as connection:
                before = failed_bytes(connection, [p.key for p in plan.fetch])
        return await self.execute(plan.fetch, before, started=started)

    async def execute(
        self,
        files: Sequence[PlannedFile],
        failed_before: Mapping[str, str],
        *,
        started: float | None = None,
    ) -> ExecutionReport:
        """Fetch, verify and ingest `files` (the progress total is the caller's to set), recording through the
        recorder; `failed_before` is the fingerprint of the bytes each key failed with in an earlier run."""
        started = time.monotonic() if started is None else started
        self._planned = {p.key: p for p in files}
        self._failed_before = dict(failed_before)
        # Grouping reads only keys and files; the bytes' paths are the source's, known once fetched.
        placeholders = [Verified(p.key, p.file, Path(p.key)) for p in files]
        for target, members in group_for_ingest(placeholders).items():
            group = _Group(target, waiting=len(members))
            for member in members:
                self._groups[member.key] = group
        async with self._writer, asyncio.TaskGroup() as tasks:
            for planned in files:
                tasks.create_task(self._one(planned))
        return self.report(time.monotonic() - started)

    def report(self, seconds: float) -> ExecutionReport:
        """What the executor did so far (a cancelled `execute` still has its failures here)."""
        return ExecutionReport(
            ingested=self._ingested,
            rows=self.progress.event.rows,
            bytes=self._bytes,
            failures=tuple(sorted(self._failures, key=lambda f: f.key)),
            seconds=seconds,
        )
