"""Refresh the catalog from the archive's S3 listing: concurrent across prefixes, idempotent, resumable.

The walk (`walk.py`) lists every chosen prefix and parses the keys into rows (`listing.py`, the fast path);
listing is read-only, so an interrupted refresh is simply run again; nothing is written until every chosen
prefix has been listed, and then only the differences (`diff.apply_seen`), with exchangeInfo beside it
(`exchange.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from binance_lake.catalog.diff import CatalogChanges, apply_seen

# Re-exported (`as`): these moved to one module per concept; old imports from here keep working.
from binance_lake.catalog.exchange import ExchangeInfoSource as ExchangeInfoSource
from binance_lake.catalog.exchange import apply_exchange_symbols, fetch_exchange_tables
from binance_lake.catalog.exchange import exchange_table as exchange_table
from binance_lake.catalog.listed import record_listed
from binance_lake.catalog.listing import Leaf as Leaf
from binance_lake.catalog.listing import Listing as Listing
from binance_lake.catalog.listing import Rows as Rows
from binance_lake.catalog.meta import set_meta
from binance_lake.catalog.store import ensure_catalog
from binance_lake.catalog.walk import Lister as Lister
from binance_lake.catalog.walk import Selection as Selection
from binance_lake.catalog.walk import first_error as first_error
from binance_lake.catalog.walk import walk as walk
from binance_lake.core.progress import Phase, Progress, ProgressEvent, ProgressSink
from binance_lake.storage.database import Connection, LakeDatabase


@dataclass
class RefreshProgress:
    """Deprecated, goes in the next release: the old listing counters, kept as a `ProgressSink` that copies
    `Phase.LISTING` events into its fields. Pass any callable taking a `ProgressEvent` instead."""

    prefixes_total: int = 0
    prefixes_done: int = 0
    pages: int = 0
    keys: int = 0
    on_update: Callable[[RefreshProgress], None] | None = None

    def __post_init__(self) -> None:
        warnings.warn(
            "RefreshProgress is deprecated: pass a callable taking a binance_lake.core.progress.ProgressEvent",
            DeprecationWarning,
            stacklevel=3,
        )

    def __call__(self, event: ProgressEvent, /) -> None:
        if event.phase is Phase.LISTING:
            self.prefixes_total, self.prefixes_done = event.total or 0, event.done
            self.pages, self.keys = event.pages, event.keys
            if self.on_update is not None:
                self.on_update(self)


@dataclass(frozen=True)
class RefreshReport:
    changes: CatalogChanges
    files_seen: int
    other_keys: int
    pages: int
    prefixes: int
    seconds: float
    exchange_symbols: int = 0  # exchangeInfo symbols that differ from what the catalog held
    exchange_error: str | None = None  # why exchangeInfo could not be read (the refresh still succeeded)
    keys: int = 0  # keys listed (zips, .CHECKSUMs and others)

    @property
    def keys_per_second(self) -> float:
        return self.keys / self.seconds if self.seconds > 0 else 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def apply_listing(
    connection: Connection, listing: Listing, *, archive_url: str, now: dt.datetime | None = None
) -> CatalogChanges:
    """Write what a walk saw into the catalog (only the differences)."""
    now = now or dt.datetime.now(dt.UTC)
    set_meta(connection, "archive_url", archive_url.rstrip("/"))
    record_listed(
        connection, [(leaf.prefix, leaf.first_day, leaf.last_day) for leaf in listing.scope], now=now
    )
    return apply_seen(
        connection,
        listing.table(),
        now=now,
        scope=[(leaf.prefix, leaf.after, leaf.upto) for leaf in listing.scope],
        other=listing.other,
    )


async def refresh(
    lister: Lister,
    database: LakeDatabase,
    selection: Selection,
    *,
    archive_url: str,
    concurrency: int = 32,
    progress: ProgressSink | None = None,
    exchange: ExchangeInfoSource | None = None,
) -> RefreshReport:
    """Walk the listing (and read exchangeInfo, when a source is given), then apply both to the catalog in
    short database transactions. exchangeInfo is optional: when it fails, the report says why. `progress`
    receives a `Phase.LISTING` event after each page and directory."""
    started = time.monotonic()
    counter = Progress(Phase.LISTING, progress)
    if exchange is not None:
        listing, (exchange_tables, exchange_error) = await asyncio.gather(
            walk(lister, selection, concurrency=concurrency, progress=counter),
            fetch_exchange_tables(exchange, selection.markets),
        )
    else:
        listing = await walk(lister, selection, concurrency=concurrency, progress=counter)
        exchange_tables, exchange_error = {}, None
    now = dt.datetime.now(dt.UTC)

    def write() -> tuple[CatalogChanges, int]:
        ensure_catalog(database)
        with database.connect() as connection:
            changes = apply_listing(connection, listing, archive_url=archive_url, now=now)
            symbols = sum(
                apply_exchange_symbols(connection, market, table, now=now)
                for market, table in exchange_tables.items()
            )
            return changes, symbols

    changes, exchange_changed = await asyncio.to_thread(write)
    return RefreshReport(
        changes=changes,
        files_seen=listing.files_seen,
        other_keys=len(listing.other),
        pages=listing.pages,
        prefixes=len(listing.scope),
        seconds=time.monotonic() - started,
        exchange_symbols=exchange_changed,
        exchange_error=exchange_error,
        keys=counter.event.keys,
    )
