"""The client side of a cluster sync: the plan's work items fanned out to Dask workers through Dask's
asynchronous client in batches of neighbouring items (one task each, `batching`), at most `window` items in
flight (submitted and not yet recorded: backpressure, so the client never holds more results than that), each
batch's result recorded as it arrives by the one `StateWriter` of the run — the client is the only writer of
lake.duckdb, and the writer already puts a second's results in one transaction.

A worker that dies mid-task is Dask's to handle: the scheduler runs the batch again on another worker (up
to its `distributed.scheduler.allowed-failures`, then the batch's files are recorded as failed and the next
sync plans them again). A run stopped from outside (Ctrl-C, a worker's stall) cancels what is in flight and
records those files as failed ("interrupted"), as the local executor does; a `LocalCluster` closes with the
run (its workers stop), while a remote worker already running a cancelled batch finishes its writes (Dask
cannot stop a running task): partitions nobody records, which the next sync writes again with the same rows
(every write is a whole file renamed into place). Progress counts a batch's files, bytes and rows when its
result arrives (`Phase.SYNC` events, the local sync's protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

from binance_lake.core.errors import BinanceLakeError, Stalled, UsageError
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.engine.cluster.spec import ClusterSpec
from binance_lake.engine.cluster.work import (
    ItemResult,
    WorkBatch,
    WorkItem,
    batches,
    failed_item,
    run_batch,
    work_items,
)
from binance_lake.engine.executor import INTERRUPTED, ExecutionReport, FileFailure
from binance_lake.engine.plan import Plan, Reason
from binance_lake.engine.state import FileState, FileStatus, StateWriter, failed_bytes
from binance_lake.storage.database import LakeDatabase

CONNECT_TIMEOUT = 20.0
"""Seconds to reach a scheduler, and to wait for its first worker."""
MIN_WINDOW = 4
MAX_BATCH = 16
"""Work items a task runs at most. A round trip costs the client and the scheduler ~4 ms of CPU whatever the
item does; 16 items bring that under 0.3 ms an item, and a killed worker's retry to 16 items."""
BATCH_BYTES = 64 * 2**20
"""Planned downloads a task holds at most (an item bigger than that is a task of its own): a month of 1m
klines is ~3 MB a series, so small items batch fully while a tick file of hundreds of MB stays alone."""
SPREAD = 4
"""Tasks each worker thread gets at least, when the plan has that many items: the batches of a small plan
shrink, so that every worker has work to the end of the run instead of one worker finishing the last batch."""
LOCAL_HTTP: dict[str, Any] = {
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
}
"""No dashboard, and the scheduler's small HTTP server (health, metrics) on a free loopback port: left alone it
takes port 8787, and only warns and moves when another cluster of the machine has it."""


class ClusterError(BinanceLakeError):
    """The Dask cluster cannot be reached or has no workers."""


def require_distributed() -> None:
    """A `UsageError` now, before any listing or planning, when the `cluster` extra is not installed."""
    _distributed()


def _distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'binance-lake[cluster]'") from None
    return distributed


@contextlib.asynccontextmanager
async def connected(spec: ClusterSpec) -> AsyncIterator[Any]:
    """An asynchronous Dask client: on a `LocalCluster` started for the run (N processes of one thread, on
    loopback, no dashboards), or on the scheduler at `spec.address`, with at least one worker."""
    distributed = _distributed()
    async with contextlib.AsyncExitStack() as stack:
        if spec.address is None:
            cluster = await stack.enter_async_context(
                distributed.LocalCluster(
                    n_workers=spec.local_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    asynchronous=True,
                    # Dask's own log lines stay out of the run's stderr: a worker's failure reaches the run as its
                    # task's error, and a worker heartbeating while the scheduler closes logs a traceback on a
                    # run that succeeded (https://github.com/dask/distributed/issues/7105; seen in CI under load).
                    silence_logs=logging.CRITICAL,
                    **LOCAL_HTTP,
                )
            )
            client = await stack.enter_async_context(distributed.Client(cluster, asynchronous=True))
        else:
            try:
                client = await stack.enter_async_context(
                    distributed.Client(spec.address, asynchronous=True, timeout=CONNECT_TIMEOUT)
                )
                await client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as error:
                raise ClusterError(
                    f"the Dask scheduler at {spec.address} did not answer with a worker within "
                    f"{CONNECT_TIMEOUT:g} s ({error or type(error).__name__})"
                ) from None
        yield client


class ClusterExecutor:
    """Runs a plan on a Dask cluster; the local `Executor`'s counterpart (same `run(plan)`, same report)."""

    def __init__(
        self,
        spec: ClusterSpec,
        database: LakeDatabase,
        root: Path,
        *,
        concurrency: int = 16,
        keep_raw: bool = True,
        progress: ProgressSink | None = None,
    ) -> None:
        self.spec = spec
        self.database = database
        self.root = root
        self.concurrency = concurrency
        self.keep_raw = keep_raw
        self.progress = Progress(Phase.SYNC, progress)
        self._token = uuid.uuid4().hex[:12]
        self._failures: list[FileFailure] = []
        self._ingested = 0
        self._bytes = 0

    async def run(self, plan: Plan) -> ExecutionReport:
        started = time.monotonic()
        self.progress.expect(len(plan.fetch), bytes_=plan.bytes)
        writer = StateWriter(self.database)
        writer.submit(
            FileState(p.key, p.file, FileStatus.PLANNED, etag=p.entry.etag, size=p.entry.size)
            for p in plan.fetch
            if p.reason is Reason.NEW
        )
        before: dict[str, str] = {}
        if plan.fetch:
            with self.database.connect() as connection:
                before = failed_bytes(connection, [p.key for p in plan.fetch])
        items = work_items(
            plan.fetch,
            before,
            root=self.root,
            settings=self.spec.settings,
            keep_raw=self.keep_raw,
            concurrency=self.concurrency,
        )
        async with writer:
            if items:
                async with connected(self.spec) as client:
                    await self._fan_out(client, items, writer)
        return ExecutionReport(
            ingested=self._ingested,
            rows=self.progress.event.rows,
            bytes=self._bytes,
            failures=tuple(sorted(self._failures, key=lambda f: f.key)),
            seconds=time.monotonic() - started,
        )

    async def _fan_out(self, client: Any, items: list[WorkItem], writer: StateWriter) -> None:
        distributed = _distributed()
        threads = sum(int(n) for n in (await client.nthreads()).values())
        size, slots = batching(len(items), threads, self.spec.window)
        cut = batches(items, size=size, max_bytes=BATCH_BYTES, concurrency=self.concurrency)
        queue = iter(cut)
        in_flight: dict[str, tuple[Any, WorkBatch]] = {}
        arrivals = distributed.as_completed()

        def submit() -> None:
            batch = next(queue, None)
            if batch is None:
                return
            key = f"binance-lake-sync-{self._token}-{batch.index}"
            future = client.submit(run_batch, batch, key=key, pure=False)
            in_flight[key] = (future, batch)
            arrivals.add(future)

        for _ in range(slots):
            submit()
        try:
            async for future in arrivals:
                _, batch = in_flight.pop(future.key)
                result = await _result_of(future, batch)
                future.release()
                self._record(writer, batch, result)
                if result.stalled is not None:
                    raise Stalled(*result.stalled)
                submit()
        except BaseException:
            # Stopped (Ctrl-C, a stall): what is in flight is recorded as interrupted, so the next run
            # resumes it; its workers are told to drop it.
            for _future, batch in in_flight.values():
                self._record(writer, batch, failed_item(batch.as_item(), INTERRUPTED))
            with contextlib.suppress(Exception):
                await client.cancel([future for future, _ in in_flight.values()])
            raise

    def _record(self, writer: StateWriter, batch: WorkBatch, result: ItemResult) -> None:
        # In the local executor's order: partitions and their days before the states that rely on them (the
        # writer records each batch in one transaction anyway).
        writer.published(result.partitions)
        writer.provenance(result.days)
        writer.submit(result.states)
        for monthly in result.superseded:
            writer.supersede(monthly)
        execution = result.execution
        self._failures.extend(execution.failures)
        self._ingested += execution.ingested
        self._bytes += execution.bytes
        self.progress.add(
            done=len(batch.files),
            bytes_done=result.bytes_received,
            rows=execution.rows,
            failures=len(execution.failures),
        )


def batching(items: int, threads: int, window: int | None) -> tuple[int, int]:
    """(items a task runs, tasks in flight) for `items` work items on `threads` worker threads, at most
    `window` items in flight (None: 2 × threads × `MAX_BATCH`, at least `MIN_WINDOW`).

    Each thread gets two tasks in flight (one running, the next already there when it ends), so a batch is at
    most window / (2 × threads) items, and at most `MAX_BATCH`; a small plan's batches shrink so that each
    thread gets `SPREAD` tasks. Tasks in flight × items a task never exceed the window."""
    threads = max(1, threads)
    if window is None:
        window = max(MIN_WINDOW, 2 * threads * MAX_BATCH)
    spread = -(-items // (SPREAD * threads))  # ceil
    size = max(1, min(MAX_BATCH, spread, window // (2 * threads)))
    return size, max(1, window // size)


async def _result_of(future: Any, batch: WorkBatch) -> ItemResult:
    try:
        result = await future
    except asyncio.CancelledError:
        raise
    except Exception as error:
        # The task itself failed (no worker could import binance_lake, or its workers kept dying:
        # `KilledWorker`): its files are failed, and planned again by the next sync.
        message = str(error) or type(error).__name__
        return failed_item(batch.as_item(), f"the cluster could not run this work item: {message}")
    if not isinstance(result, ItemResult):
        return failed_item(
            batch.as_item(), f"the cluster returned {type(result).__name__}, not a work item's result"
        )
    return result
