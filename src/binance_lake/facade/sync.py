"""Running a sync from synchronous code: the clients for the settings, the writer lock (a dry run writes
nothing and takes none), and the engine's `run_sync` under the stall rule."""

from __future__ import annotations

from collections.abc import Awaitable

from binance_lake.binance.clients import Clients
from binance_lake.core.settings import Settings
from binance_lake.engine.sync import SyncOptions, SyncReport, SyncRequest, run_sync
from binance_lake.facade.loop import run_online
from binance_lake.storage.database import LakeDatabase, WriterLock


def run_sync_stage(
    settings: Settings, database: LakeDatabase, request: SyncRequest, options: SyncOptions
) -> SyncReport:
    """Mirror the (validated) request into the lake at `database`; only one process syncs a lake at a time
    (`LakeLocked` otherwise)."""

    def work(clients: Clients) -> Awaitable[SyncReport]:
        return run_sync(
            request,
            client=clients.archive,
            database=database,
            archive_url=settings.archive_url,
            options=options,
        )

    if options.dry_run:
        return run_online(settings, work, concurrency=options.concurrency)
    with WriterLock(database.root):
        return run_online(settings, work, concurrency=options.concurrency)
