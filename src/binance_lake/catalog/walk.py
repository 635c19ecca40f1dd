"""The concurrent walk of the archive's S3 listing: which prefixes a selection names, and listing them.

The walk is two levels deep: a dataset prefix (`data/futures/um/daily/klines/`) lists its symbol directories
with `delimiter=/`; each symbol directory (or `<symbol>/<interval>/` when intervals are chosen) is then listed
without a delimiter, page by page (a date range is a key range, see `Leaf`). Listing is read-only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from binance_lake.binance.listing import ListingPage
from binance_lake.catalog.listing import Leaf, Listing
from binance_lake.core.archive import dataset_prefix, file_stem
from binance_lake.core.datasets import DatasetSpec, datasets_for, get_dataset
from binance_lake.core.progress import Phase, Progress
from binance_lake.core.timerange import month_end, month_start
from binance_lake.core.vocabulary import Cadence, Interval, Market


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
    # Only these cadences of a dataset that publishes them (empty: all); a dataset that publishes none of
    # them is listed in its own. The sync lists monthly files first and daily ones only where no monthly
    # file covers the days (engine/sync.py).
    cadences: tuple[Cadence, ...] = ()

    def cadences_of(self, spec: DatasetSpec) -> list[Cadence]:
        chosen = [c for c in sorted(spec.cadences) if c in self.cadences]
        return chosen or sorted(spec.cadences)

    def specs(self, market: Market) -> list[DatasetSpec]:
        chosen = {get_dataset(d).name for d in self.datasets}
        return [s for s in datasets_for(market, archive_only=True) if not chosen or s.name in chosen]


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
    stem = directory + file_stem(symbol, tag if spec.has_interval else None, spec.name)
    # Two keys per period (zip and .CHECKSUM) and a little slack; a page never holds more than 1000.
    if cadence is Cadence.DAILY:
        first_day, last_day = selection.first_day, last
    else:
        first_day, last_day = month_start(selection.first_day), month_end(last)
    return Leaf(
        directory,
        after=stem + first_text,
        upto=stem + last_text + "~",
        max_keys=min(1000, 2 * periods + 8),
        first_day=first_day,
        last_day=last_day,
    )


async def _list_into(lister: Lister, leaf: Leaf, listing: Listing, progress: Progress) -> None:
    # The leaf's zips and their `.CHECKSUM`s are collected together (a date range keeps both of a day).
    rows = listing.rows()
    async for page in lister.iter_listing(
        leaf.prefix, delimiter=None, max_keys=leaf.max_keys, start_after=leaf.after
    ):
        listing.pages += 1
        done = False
        for listed in page.objects:
            if leaf.upto is not None and listed.key > leaf.upto:
                done = True
                break
            rows.add(listed)
        progress.add(pages=1, keys=len(page.objects))
        if done:
            break
    listing.add_rows(rows)


async def _symbol_dirs(lister: Lister, prefix: str, listing: Listing, progress: Progress) -> list[str]:
    """The symbol directories under a dataset prefix; stray objects there are counted as non-dataset keys."""
    found: list[str] = []
    async for page in lister.iter_listing(prefix, delimiter="/"):
        listing.pages += 1
        for listed in page.objects:
            listing.add(listed)
        for sub in page.prefixes:
            name = sub[len(prefix) :].rstrip("/")
            if name:
                found.append(sub)
            else:
                listing.other.append((sub, "empty directory name"))
        progress.add(pages=1)  # long symbol listings (`--all`) show their pages before any leaf is known
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
    progress: Progress | None = None,
) -> Listing:
    """List every chosen prefix of the archive, `concurrency` listings at a time, counting directories,
    pages and keys in `progress` (a `Phase.LISTING` counter)."""
    progress = progress or Progress(Phase.LISTING)
    listing = Listing()
    semaphore = asyncio.Semaphore(concurrency)
    wanted = set(selection.symbols)

    async def leaf(item: Leaf) -> None:
        async with semaphore:
            await _list_into(lister, item, listing, progress)
        progress.add(done=1)

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
        progress.expect(len(leaves))
        async with asyncio.TaskGroup() as group:
            for item in leaves:
                group.create_task(leaf(item))

    try:
        async with asyncio.TaskGroup() as group:
            for market in selection.markets:
                for spec in selection.specs(market):
                    for cadence in selection.cadences_of(spec):
                        group.create_task(dataset(spec, cadence, dataset_prefix(market, cadence, spec.name)))
    except BaseExceptionGroup as failed:
        raise first_error(failed) from None
    return listing


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group (groups nest: datasets, then leaves), so callers see one
    binance-lake error, e.g. `ConnectionFailed` naming the URL and its setting, not an exception group."""
    errors = list(group.exceptions)
    chosen = next((e for e in errors if not isinstance(e, BaseExceptionGroup)), errors[0])
    return first_error(chosen) if isinstance(chosen, BaseExceptionGroup) else chosen
