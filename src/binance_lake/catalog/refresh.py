"""Refresh the catalog from the archive's S3 listing: concurrent across prefixes, idempotent, resumable.

The walk is two levels deep: a dataset prefix (`data/futures/um/daily/klines/`) lists its symbol directories
with `delimiter=/`; each symbol directory (or `<symbol>/<interval>/` when intervals are chosen) is then listed
without a delimiter, page by page. Listing is read-only, so an interrupted refresh is simply run again; nothing is
written until every chosen prefix has been listed, and then only the differences (see `store.apply_seen`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from binance_lake.binance.listing import ListedObject, ListingPage
from binance_lake.catalog.store import SCHEMA, CatalogChanges, SeenFile, apply_seen, seen_table, set_meta
from binance_lake.core.archive import NotADatasetFile, dataset_prefix, parse_key
from binance_lake.core.datasets import DatasetSpec, datasets_for, get_dataset
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.storage.database import Connection, LakeDatabase


class Lister(Protocol):
    """The part of the archive client the refresh needs (see `binance.archive_client.ArchiveClient`)."""

    def iter_listing(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> AsyncIterator[ListingPage]: ...


@dataclass(frozen=True)
class Selection:
    """Which part of the archive to look at; empty tuples mean everything."""

    markets: tuple[Market, ...] = (Market.SPOT, Market.UM, Market.CM, Market.OPTION)
    datasets: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()
    first_day: dt.date | None = None  # list only the files of these days (needs intervals for klines)
    last_day: dt.date | None = None

    def specs(self, market: Market) -> list[DatasetSpec]:
        chosen = {get_dataset(d).name for d in self.datasets}
        return [s for s in datasets_for(market) if not chosen or s.name in chosen]


@dataclass
class RefreshProgress:
    """Counters the CLI renders while a refresh runs (updated from the event loop)."""

    prefixes_total: int = 0
    prefixes_done: int = 0
    pages: int = 0
    keys: int = 0
    on_update: Callable[[RefreshProgress], None] | None = None

    def _tick(self) -> None:
        if self.on_update is not None:
            self.on_update(self)


@dataclass
class Listing:
    """Everything one walk saw."""

    files: dict[str, SeenFile] = field(default_factory=dict)
    checksum_sizes: dict[str, int] = field(default_factory=dict)
    other: list[tuple[str, str]] = field(default_factory=list)
    scope: list[Leaf] = field(default_factory=list)
    pages: int = 0

    def add(self, listed: ListedObject) -> None:
        parsed = parse_key(listed.key)
        if isinstance(parsed, NotADatasetFile):
            self.other.append((parsed.key, parsed.reason))
        elif parsed.is_checksum:
            self.checksum_sizes[parsed.zip_key] = listed.size
        else:
            self.files[parsed.key] = SeenFile(parsed, listed.size, listed.etag, listed.last_modified)

    def seen(self) -> list[SeenFile]:
        """Seen zips with the size of their `.CHECKSUM` attached (None when the sidecar is missing, #469)."""
        return [
            SeenFile(s.parsed, s.size, s.etag, s.last_modified, self.checksum_sizes.get(key))
            for key, s in self.files.items()
        ]


@dataclass(frozen=True)
class RefreshReport:
    changes: CatalogChanges
    files_seen: int
    other_keys: int
    pages: int
    prefixes: int
    seconds: float

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Leaf:
    """One listing to walk without a delimiter: a directory, or the part of it between two keys.

    Keys in a file directory sort by date (`BTCUSDT-1h-2024-01-01.zip`, …), so a date range is a key range:
    the listing starts after `after` and stops past `upto`. On the real archive this turns a six-page
    listing of a symbol's whole history into one page for a month.
    """

    prefix: str
    after: str | None = None
    upto: str | None = None
    max_keys: int = 1000


def _leaf_for(directory: str, spec: DatasetSpec, cadence: Cadence, selection: Selection) -> Leaf:
    if selection.first_day is None or (spec.has_interval and not selection.intervals):
        return Leaf(directory)
    parts = directory.rstrip("/").split("/")
    tag = parts[-1] if spec.has_interval else spec.name
    symbol = parts[-2] if spec.has_interval else parts[-1]
    last = selection.last_day or selection.first_day
    if cadence is Cadence.DAILY:
        first_text, last_text = selection.first_day.isoformat(), last.isoformat()
        periods = (last - selection.first_day).days + 1
    else:
        first_text, last_text = f"{selection.first_day:%Y-%m}", f"{last:%Y-%m}"
        periods = (last.year - selection.first_day.year) * 12 + last.month - selection.first_day.month + 1
    stem = f"{directory}{symbol}-{tag}-"
    # Two keys per period (zip and .CHECKSUM) and a little slack; a page never holds more than 1000.
    return Leaf(
        directory, after=stem + first_text, upto=stem + last_text + "~", max_keys=min(1000, 2 * periods + 8)
    )


async def _list_into(lister: Lister, leaf: Leaf, listing: Listing, progress: RefreshProgress) -> None:
    async for page in lister.iter_listing(
        leaf.prefix, delimiter=None, max_keys=leaf.max_keys, start_after=leaf.after
    ):
        listing.pages += 1
        progress.pages += 1
        progress.keys += len(page.objects)
        done = False
        for listed in page.objects:
            if leaf.upto is not None and listed.key > leaf.upto:
                done = True
                break
            listing.add(listed)
        progress._tick()
        if done:
            return


async def _symbol_dirs(lister: Lister, prefix: str, listing: Listing, progress: RefreshProgress) -> list[str]:
    """The symbol directories under a dataset prefix; stray objects there are counted as non-dataset keys."""
    found: list[str] = []
    async for page in lister.iter_listing(prefix, delimiter="/"):
        listing.pages += 1
        progress.pages += 1
        for listed in page.objects:
            listing.add(listed)
        for sub in page.prefixes:
            name = sub[len(prefix) :].rstrip("/")
            if name:
                found.append(sub)
            else:
                listing.other.append((sub, "empty directory name"))
    return found


def _directories(symbol_dir: str, spec: DatasetSpec, selection: Selection) -> list[str]:
    if spec.has_interval and selection.intervals:
        return [f"{symbol_dir}{i.value}/" for i in selection.intervals]
    return [symbol_dir]


async def walk(
    lister: Lister,
    selection: Selection,
    *,
    concurrency: int = 32,
    progress: RefreshProgress | None = None,
) -> Listing:
    """List every chosen prefix of the archive, `concurrency` listings at a time."""
    progress = progress or RefreshProgress()
    listing = Listing()
    semaphore = asyncio.Semaphore(concurrency)
    wanted = set(selection.symbols)

    async def leaf(item: Leaf) -> None:
        async with semaphore:
            await _list_into(lister, item, listing, progress)
        progress.prefixes_done += 1
        progress._tick()

    async def dataset(spec: DatasetSpec, cadence: Cadence, prefix: str) -> None:
        if wanted:
            dirs = [f"{prefix}{symbol}/" for symbol in sorted(wanted)]
        else:
            async with semaphore:
                dirs = await _symbol_dirs(lister, prefix, listing, progress)
        leaves = [
            _leaf_for(d, spec, cadence, selection) for sd in dirs for d in _directories(sd, spec, selection)
        ]
        # Only what was listed completely may mark unseen catalog rows as gone: the whole dataset prefix when
        # every symbol, interval and day was walked, else exactly the leaves (and their key ranges).
        whole = not wanted and not (spec.has_interval and selection.intervals) and selection.first_day is None
        listing.scope.extend([Leaf(prefix)] if whole else leaves)
        progress.prefixes_total += len(leaves)
        progress._tick()
        async with asyncio.TaskGroup() as group:
            for item in leaves:
                group.create_task(leaf(item))

    async with asyncio.TaskGroup() as group:
        for market in selection.markets:
            for spec in selection.specs(market):
                for cadence in sorted(spec.cadences):
                    group.create_task(dataset(spec, cadence, dataset_prefix(market, cadence, spec.name)))
    return listing


def apply_listing(
    connection: Connection, listing: Listing, *, archive_url: str, now: dt.datetime | None = None
) -> CatalogChanges:
    """Write what a walk saw into the catalog (only the differences)."""
    now = now or dt.datetime.now(dt.UTC)
    set_meta(connection, "archive_url", archive_url.rstrip("/"))
    return apply_seen(
        connection,
        seen_table(listing.seen()),
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
    progress: RefreshProgress | None = None,
) -> RefreshReport:
    """Walk the listing, then apply it to the catalog in one short database transaction."""
    started = time.monotonic()
    listing = await walk(lister, selection, concurrency=concurrency, progress=progress)

    def write() -> CatalogChanges:
        database.ensure_schema(SCHEMA)
        with database.connect() as connection:
            return apply_listing(connection, listing, archive_url=archive_url)

    changes = await asyncio.to_thread(write)
    return RefreshReport(
        changes=changes,
        files_seen=len(listing.files),
        other_keys=len(listing.other),
        pages=listing.pages,
        prefixes=len(listing.scope),
        seconds=time.monotonic() - started,
    )
