"""Refresh the catalog from the archive's S3 listing: concurrent across prefixes, idempotent, resumable.

The walk is two levels deep: a dataset prefix (`data/futures/um/daily/klines/`) lists its symbol directories
with `delimiter=/`; each symbol directory (or `<symbol>/<interval>/` when intervals are chosen) is then listed
without a delimiter, page by page. Listing is read-only, so an interrupted refresh is simply run again; nothing is
written until every chosen prefix has been listed, and then only the differences (see `store.apply_seen`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from binance_lake.binance.listing import ListedObject, ListingPage
from binance_lake.binance.rest_client import EXCHANGE_INFO, ExchangeSymbol
from binance_lake.catalog.store import (
    EXCHANGE_SCHEMA,
    LISTED_SCHEMA,
    CatalogChanges,
    apply_exchange_symbols,
    apply_seen,
    ensure_catalog,
    record_listed,
    set_meta,
)
from binance_lake.core.archive import CHECKSUM_SUFFIX, ArchiveFile, NotADatasetFile, dataset_prefix, parse_key
from binance_lake.core.datasets import DatasetSpec, datasets_for, get_dataset
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.progress import Phase, Progress, ProgressEvent, ProgressSink
from binance_lake.core.timerange import month_end, month_start
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


class ExchangeInfoSource(Protocol):
    """The part of the REST client the refresh needs (see `binance.rest_client.RestClient`)."""

    async def exchange_info(self, market: Market) -> list[ExchangeSymbol]: ...


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


class _Directory:
    """What every key of one file directory shares, parsed once from its first dataset key.

    The other keys of the directory differ only in their date (`BTCUSDT-1h-2024-01-01.zip[.CHECKSUM]`), so
    they are recognised by prefix and the date alone is parsed; anything else falls back to `parse_key`.
    """

    __slots__ = ("cadence", "date_length", "file_index", "stem")

    def __init__(self, file: ArchiveFile, file_index: int) -> None:
        middle = file.interval.value if file.interval is not None else file.dataset
        self.stem = f"{file.directory}{file.symbol}-{middle}-"
        self.cadence = file.cadence
        self.date_length = 10 if file.cadence is Cadence.DAILY else 7
        self.file_index = file_index


# Per-row columns of a listed zip, collected as plain lists and turned into Arrow once per leaf.
_Template = tuple[str, str, str, str | None, str]  # market, dataset, symbol, interval, cadence


class Rows:
    """The dataset files one listing leaf saw, column by column (see `Listing`)."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self.keys: list[str] = []
        self.templates: list[int] = []
        self.periods: list[dt.date] = []
        self.sizes: list[int] = []
        self.etags: list[str] = []
        self.modified: list[dt.datetime] = []
        self.canonical: list[bool] = []
        self.checksum_sizes: dict[str, int] = {}

    def add(self, listed: ListedObject) -> None:
        key = listed.key
        cut = key.rfind("/") + 1
        directory = self.listing.directories.get(key[:cut])
        if directory is not None and key.startswith(directory.stem):
            rest = key[len(directory.stem) :]
            n = directory.date_length
            tail = rest[n:]
            period = self.listing.period(rest[:n], directory.cadence) if tail in _TAILS else None
            if period is not None:
                if tail == ".zip":
                    self._append(key, directory.file_index, period, listed, canonical=True)
                else:
                    self.checksum_sizes[key[: -len(CHECKSUM_SUFFIX)]] = listed.size
                return
        self._add_slow(listed)

    def _add_slow(self, listed: ListedObject) -> None:
        parsed = parse_key(listed.key)
        if isinstance(parsed, NotADatasetFile):
            self.listing.other.append((parsed.key, parsed.reason))
            return
        file = parsed.file
        template = self.listing.template(file)
        directory = listed.key[: listed.key.rfind("/") + 1]
        if parsed.canonical and directory == file.directory and directory not in self.listing.directories:
            self.listing.directories[directory] = _Directory(file, template)
        if parsed.is_checksum:
            self.checksum_sizes[parsed.zip_key] = listed.size
        else:
            self._append(parsed.key, template, file.period, listed, canonical=parsed.canonical)

    def _append(
        self, key: str, template: int, period: dt.date, listed: ListedObject, *, canonical: bool
    ) -> None:
        self.keys.append(key)
        self.templates.append(template)
        self.periods.append(period)
        self.sizes.append(listed.size)
        self.etags.append(listed.etag)
        self.modified.append(listed.last_modified)
        self.canonical.append(canonical)

    def table(self) -> pa.Table:
        """The rows in `LISTED_SCHEMA`, each zip with the size of its `.CHECKSUM` (null when missing, #469)."""
        templates = self.listing.templates
        index = pa.array(self.templates, pa.int32())

        def column(position: int) -> pa.Array[Any]:
            return pa.array([t[position] for t in templates], pa.string()).take(index)

        cadences = [templates[i][4] for i in self.templates]
        last_days = [
            p if c == "daily" else self.listing.month_end(p)
            for p, c in zip(self.periods, cadences, strict=True)
        ]
        sums = self.checksum_sizes
        arrays = [
            pa.array(self.keys, pa.string()),
            column(0),
            column(1),
            column(2),
            column(3),
            column(4),
            pa.array(self.periods, pa.date32()),
            pa.array(self.periods, pa.date32()),
            pa.array(last_days, pa.date32()),
            pa.array(self.sizes, pa.int64()),
            pa.array(self.etags, pa.string()),
            pa.array(self.modified, pa.timestamp("us", tz="UTC")),
            pa.array([sums.get(k) for k in self.keys], pa.int64()),
            pa.array(self.canonical, pa.bool_()),
        ]
        return pa.Table.from_arrays(arrays, schema=LISTED_SCHEMA)

    def __len__(self) -> int:
        return len(self.keys)


_TAILS = (".zip", ".zip" + CHECKSUM_SUFFIX)


@dataclass
class Listing:
    """Everything one walk saw: Arrow tables of dataset files (one per listed leaf), non-dataset keys, and
    the key ranges that were listed completely."""

    tables: list[pa.Table] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    scope: list[Leaf] = field(default_factory=list)
    pages: int = 0
    files_seen: int = 0
    directories: dict[str, _Directory] = field(default_factory=dict)
    templates: list[_Template] = field(default_factory=list)
    _template_index: dict[_Template, int] = field(default_factory=dict)
    _periods: dict[tuple[str, Cadence], dt.date | None] = field(default_factory=dict)
    _month_ends: dict[dt.date, dt.date] = field(default_factory=dict)

    def rows(self) -> Rows:
        return Rows(self)

    def add_rows(self, rows: Rows) -> None:
        if len(rows):
            self.tables.append(rows.table())
            self.files_seen += len(rows)

    def add(self, listed: ListedObject) -> None:
        """Record one object on its own (stray objects of a directory listing)."""
        rows = self.rows()
        rows.add(listed)
        self.add_rows(rows)

    def template(self, file: ArchiveFile) -> int:
        interval = file.interval.value if file.interval is not None else None
        template = (file.market.value, file.dataset, file.symbol, interval, file.cadence.value)
        found = self._template_index.get(template)
        if found is None:
            found = self._template_index[template] = len(self.templates)
            self.templates.append(template)
        return found

    def period(self, text: str, cadence: Cadence) -> dt.date | None:
        """The date of a canonical `YYYY-MM-DD` (daily) or `YYYY-MM` (monthly) text; None for anything else."""
        cache_key = (text, cadence)
        if cache_key in self._periods:
            return self._periods[cache_key]
        value: dt.date | None = None
        match = (_DAILY if cadence is Cadence.DAILY else _MONTHLY).fullmatch(text)
        if match is not None:
            numbers = [int(g) for g in match.groups()]
            try:
                value = dt.date(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1)
            except ValueError:
                value = None
        self._periods[cache_key] = value
        return value

    def month_end(self, period: dt.date) -> dt.date:
        found = self._month_ends.get(period)
        if found is None:
            found = self._month_ends[period] = month_end(period)
        return found

    def table(self) -> pa.Table:
        """Every seen zip in `LISTED_SCHEMA`."""
        if not self.tables:
            return LISTED_SCHEMA.empty_table()
        return pa.concat_tables(self.tables)


_DAILY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTHLY = re.compile(r"(\d{4})-(\d{2})")


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
    first_day: dt.date | None = None  # the days the key range stands for (None: unbounded)
    last_day: dt.date | None = None


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
                    for cadence in sorted(spec.cadences):
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


async def _exchange_tables(
    source: ExchangeInfoSource, markets: tuple[Market, ...]
) -> tuple[dict[str, pa.Table], str | None]:
    """exchangeInfo of every chosen market that has one, as tables; on failure, the reason instead."""
    tables: dict[str, pa.Table] = {}
    try:
        for market in markets:
            if market in EXCHANGE_INFO:
                symbols = await source.exchange_info(market)
                tables[market.value] = exchange_table(symbols)
    except BinanceLakeError as error:
        return {}, str(error)
    return tables, None


def exchange_table(symbols: list[ExchangeSymbol]) -> pa.Table:
    """exchangeInfo symbols in `store.EXCHANGE_SCHEMA`."""
    return pa.Table.from_pylist(
        [
            {
                "market": s.market.value,
                "symbol": s.symbol,
                "pair": s.pair,
                "status": s.status,
                "contract_type": s.contract_type,
                "onboard_date": s.onboard_date,
                "delivery_date": s.delivery_date,
                "base_asset": s.base_asset,
                "quote_asset": s.quote_asset,
            }
            for s in symbols
        ],
        schema=EXCHANGE_SCHEMA,
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
            _exchange_tables(exchange, selection.markets),
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
