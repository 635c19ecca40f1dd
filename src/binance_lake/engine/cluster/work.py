"""One work item of a cluster sync and the function a Dask worker runs for it.

A work item is one ingest group of the plan (`engine.ingest.group_for_ingest`): the files of one series' month
that go into one monthly partition, or one tick file. A worker runs the local executor over exactly those
files (`Executor.execute`: the same verify-attempt loop, quarantine rule, ingest and partition writes as a
local sync) with a `Collected` recorder instead of the lake's state writer, makes the partitions it wrote
durable, and returns everything the state writer would have recorded as an `ItemResult`. Running an item
twice (its worker died midway and Dask ran it elsewhere) writes the same rows: ingest replaces the days it
covers, downloads resume or verify again.

A Dask task runs a `WorkBatch`: up to a few neighbouring items (`batches`), whose files one executor runs
together, as a local sync runs a plan's groups together. A round trip through the scheduler costs a few
milliseconds of the client's and the scheduler's CPU whatever the item does, so a plan of small items (a
series' month of 1h klines is one small file) pays it once a batch instead of once an item; a big tick file
fills a batch on its own (`max_bytes`), and a worker killed mid-batch costs that batch's retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from binance_lake.binance import event_loop
from binance_lake.binance.clients import open_clients
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import Stalled
from binance_lake.core.settings import Settings
from binance_lake.engine.archive_source import ArchiveSource
from binance_lake.engine.cluster.spec import worker_settings
from binance_lake.engine.executor import ExecutionReport, Executor, FileFailure
from binance_lake.engine.ingest import Verified, group_for_ingest
from binance_lake.engine.plan import PlannedFile
from binance_lake.engine.state import FileState, FileStatus
from binance_lake.storage.inventory import PartitionRecord
from binance_lake.storage.parquet import make_durable
from binance_lake.storage.provenance import DayRecord


@dataclass(frozen=True)
class WorkItem:
    """The files of one ingest group, and what a worker needs to fetch and ingest them into `root` (a path
    every worker sees)."""

    index: int
    files: tuple[PlannedFile, ...]
    failed_before: Mapping[str, str]
    root: Path
    settings: Settings
    keep_raw: bool = True
    concurrency: int = 16

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.files)


@dataclass(frozen=True)
class WorkBatch:
    """Neighbouring work items run as one Dask task (plan order, so mostly one series' months); `index` is
    the first item's, `concurrency` the downloads the batch's executor runs at once."""

    index: int
    items: tuple[WorkItem, ...]
    concurrency: int

    @property
    def files(self) -> tuple[PlannedFile, ...]:
        return tuple(p for item in self.items for p in item.files)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.files)

    def as_item(self) -> WorkItem:
        """The batch's items as one: their files, earlier fingerprints and the first item's root and settings
        (the same for every item of a plan)."""
        first = self.items[0]
        before = {key: value for item in self.items for key, value in item.failed_before.items()}
        return WorkItem(
            self.index, self.files, before, first.root, first.settings, first.keep_raw, self.concurrency
        )


@dataclass(frozen=True)
class ItemResult:
    """What a worker did with one item: the records for the client's `StateWriter` (in the order the local
    executor submits them), the execution's figures, and the bytes received (failed attempts included, as
    the local progress counts them). `stalled` is the (host, timeout) of a stall that ended the item."""

    index: int
    states: tuple[FileState, ...]
    superseded: tuple[ArchiveFile, ...]
    partitions: tuple[PartitionRecord, ...]
    days: tuple[DayRecord, ...]
    execution: ExecutionReport
    bytes_received: int
    stalled: tuple[str, float] | None = None


@dataclass
class Collected:
    """A `Recorder` (engine/executor.py) that keeps what it is given, for the item's result."""

    states: list[FileState] = field(default_factory=list)
    superseded: list[ArchiveFile] = field(default_factory=list)
    partitions: list[PartitionRecord] = field(default_factory=list)
    days: list[DayRecord] = field(default_factory=list)

    def submit(self, states: Iterable[FileState]) -> None:
        self.states.extend(states)

    def supersede(self, monthly: ArchiveFile) -> None:
        self.superseded.append(monthly)

    def published(self, records: Iterable[PartitionRecord]) -> None:
        self.partitions.extend(records)

    def provenance(self, records: Iterable[DayRecord]) -> None:
        self.days.extend(records)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def work_items(
    files: Sequence[PlannedFile],
    failed_before: Mapping[str, str],
    *,
    root: Path,
    settings: Settings,
    keep_raw: bool = True,
    concurrency: int = 16,
) -> list[WorkItem]:
    """The plan's files as work items, one per ingest group, in plan order, with `settings` as they pickle."""
    settings = worker_settings(settings)
    by_key = {p.key: p for p in files}
    placeholders = [Verified(p.key, p.file, Path(p.key)) for p in files]
    items: list[WorkItem] = []
    for members in group_for_ingest(placeholders).values():
        chosen = tuple(by_key[m.key] for m in members)
        before = {p.key: failed_before[p.key] for p in chosen if p.key in failed_before}
        items.append(
            WorkItem(
                len(items), chosen, before, root, settings, keep_raw, max(1, min(concurrency, len(chosen)))
            )
        )
    return items


def batches(
    items: Sequence[WorkItem], *, size: int, max_bytes: int, concurrency: int = 16
) -> list[WorkBatch]:
    """`items` cut in plan order into batches of at most `size` items and `max_bytes` of planned downloads
    (an item bigger than that is a batch of its own), each running up to `concurrency` downloads at once."""
    if size < 1:
        raise ValueError(f"a batch holds at least one item, not {size}")
    cut: list[WorkBatch] = []
    members: list[WorkItem] = []
    weight = 0

    def close() -> None:
        files = sum(len(m.files) for m in members)
        cut.append(WorkBatch(members[0].index, tuple(members), max(1, min(concurrency, files))))

    for item in items:
        bytes_ = sum(p.entry.size for p in item.files)
        if members and (len(members) == size or weight + bytes_ > max_bytes):
            close()
            members, weight = [], 0
        members.append(item)
        weight += bytes_
    if members:
        close()
    return cut


def run_batch(batch: WorkBatch) -> ItemResult:
    """Fetch, verify and ingest a batch's items together: one result for them all (one Dask task)."""
    return run_item(batch.as_item())


def run_item(item: WorkItem) -> ItemResult:
    """Fetch, verify and ingest one item (on a Dask worker's thread, which has no event loop of its own)."""
    return event_loop.run(_run(item))


async def _run(item: WorkItem) -> ItemResult:
    started = time.monotonic()
    collected = Collected()
    stalled: tuple[str, float] | None = None
    async with open_clients(item.settings, concurrency=item.concurrency) as clients:
        source = ArchiveSource(clients.archive, item.root, keep_raw=item.keep_raw)
        executor = Executor(source, None, item.root, concurrency=item.concurrency, recorder=collected)
        try:
            await clients.bounded(executor.execute(item.files, item.failed_before))
        except Stalled as error:
            # The files in flight are recorded as failed ("interrupted"); the client ends the run with it.
            stalled = (error.host, error.timeout)
    # Partitions were renamed into place without fsyncs; another machine's client cannot fsync them for us.
    await asyncio.to_thread(make_durable, (item.root / r.partition.path for r in collected.partitions))
    return ItemResult(
        index=item.index,
        states=tuple(collected.states),
        superseded=tuple(collected.superseded),
        partitions=tuple(collected.partitions),
        days=tuple(collected.days),
        execution=executor.report(time.monotonic() - started),
        bytes_received=executor.progress.event.bytes_done,
        stalled=stalled,
    )


def failed_item(item: WorkItem, message: str) -> ItemResult:
    """The result of an item no worker could finish (the task raised, or its workers kept dying): each file
    failed with `message`, planned again by the next sync."""
    states = tuple(
        FileState(
            key=p.key,
            file=p.file,
            status=FileStatus.FAILED,
            etag=p.entry.etag,
            size=p.entry.size,
            attempts=1,
            error=message,
            # Not a verification failure: an earlier run's fingerprint still counts toward quarantine.
            failed_bytes=item.failed_before.get(p.key),
        )
        for p in item.files
    )
    failures = tuple(FileFailure(p.key, message, False) for p in item.files)
    return ItemResult(
        index=item.index,
        states=states,
        superseded=(),
        partitions=(),
        days=(),
        execution=ExecutionReport(ingested=0, rows=0, bytes=0, failures=failures, seconds=0.0),
        bytes_received=0,
    )
