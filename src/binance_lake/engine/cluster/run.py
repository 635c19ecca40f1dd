"""The client side of a cluster sync: the plan's work items fanned out to Dask workers through Dask's
asynchronous client, at most `window` of them in flight (submitted and not yet recorded: backpressure, so the
client never holds more results than that), each result recorded as it arrives by the one `StateWriter` of
the run — the client is the only writer of lake.duckdb.

A worker that dies mid-item is Dask's to handle: the scheduler runs the item again on another worker (up to
its `distributed.scheduler.allowed-failures`, then the item's files are recorded as failed and the next sync
plans them again). A run stopped from outside (Ctrl-C, a worker's stall) cancels what is in flight and
records those files as failed ("interrupted"), as the local executor does; a `LocalCluster` closes with the
run (its workers stop), while a remote worker already running a cancelled item finishes its writes (Dask
cannot stop a running task): partitions nobody records, which the next sync writes again with the same rows
(every write is a whole file renamed into place). Progress counts an item's files, bytes and rows when its
result arrives (`Phase.SYNC` events, the local sync's protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

from binance_lake.core.errors import BinanceLakeError, Stalled, UsageError
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.engine.cluster.spec import ClusterSpec
from binance_lake.engine.cluster.work import ItemResult, WorkItem, failed_item, run_item, work_items
from binance_lake.engine.executor import INTERRUPTED, ExecutionReport, FileFailure
from binance_lake.engine.plan import Plan, Reason
from binance_lake.engine.state import FileState, FileStatus, StateWriter, failed_bytes
from binance_lake.storage.database import LakeDatabase

CONNECT_TIMEOUT = 20.0
"""Seconds to reach a scheduler, and to wait for its first worker."""
MIN_WINDOW = 4
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

    async def _window(self, client: Any) -> int:
        if self.spec.window is not None:
            return self.spec.window
        threads = await client.nthreads()
        return max(MIN_WINDOW, 2 * int(sum(threads.values())))

    async def _fan_out(self, client: Any, items: list[WorkItem], writer: StateWriter) -> None:
        distributed = _distributed()
        window = await self._window(client)
        queue = iter(items)
        in_flight: dict[str, tuple[Any, WorkItem]] = {}
        arrivals = distributed.as_completed()

        def submit() -> None:
            item = next(queue, None)
            if item is None:
                return
            key = f"binance-lake-sync-{self._token}-{item.index}"
            future = client.submit(run_item, item, key=key, pure=False)
            in_flight[key] = (future, item)
            arrivals.add(future)

        for _ in range(window):
            submit()
        try:
            async for future in arrivals:
                _, item = in_flight.pop(future.key)
                result = await _result_of(future, item)
                future.release()
                self._record(writer, item, result)
                if result.stalled is not None:
                    raise Stalled(*result.stalled)
                submit()
        except BaseException:
            # Stopped (Ctrl-C, a stall): what is in flight is recorded as interrupted, so the next run
            # resumes it; its workers are told to drop it.
            for _future, item in in_flight.values():
                self._record(writer, item, failed_item(item, INTERRUPTED))
            with contextlib.suppress(Exception):
                await client.cancel([future for future, _ in in_flight.values()])
            raise

    def _record(self, writer: StateWriter, item: WorkItem, result: ItemResult) -> None:
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
            done=len(item.files),
            bytes_done=result.bytes_received,
            rows=execution.rows,
            failures=len(execution.failures),
        )


async def _result_of(future: Any, item: WorkItem) -> ItemResult:
    try:
        result = await future
    except asyncio.CancelledError:
        raise
    except Exception as error:
        # The task itself failed (no worker could import binance_lake, or its workers kept dying:
        # `KilledWorker`): its files are failed, and planned again by the next sync.
        message = str(error) or type(error).__name__
        return failed_item(item, f"the cluster could not run this work item: {message}")
    if not isinstance(result, ItemResult):
        return failed_item(item, f"the cluster returned {type(result).__name__}, not a work item's result")
    return result
