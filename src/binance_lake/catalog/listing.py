"""What a walk saw, parsed from listing pages: the listing fast path.

Keys of one file directory share everything but their date, so the first dataset key of a directory is parsed
with `core.archive.parse_key` and the rest are recognised by the file-name stem, period length and tails of
the same grammar (`file_stem`, `PERIOD_TEXT_LENGTH`, `FILE_TAILS`, `canonical_period` in core/archive.py);
anything else falls back to `parse_key`. Rows are collected as plain lists and turned into Arrow once per leaf.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from binance_lake.binance.listing import ListedObject
from binance_lake.catalog.diff import LISTED_SCHEMA
from binance_lake.core.archive import (
    CHECKSUM_SUFFIX,
    FILE_TAILS,
    PERIOD_TEXT_LENGTH,
    ZIP_SUFFIX,
    ArchiveFile,
    NotADatasetFile,
    canonical_period,
    file_stem,
    parse_key,
)
from binance_lake.core.timerange import month_end
from binance_lake.core.vocabulary import Cadence


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


class _Directory:
    """What every key of one file directory shares, parsed once from its first dataset key.

    The other keys of the directory differ only in their date (`BTCUSDT-1h-2024-01-01.zip[.CHECKSUM]`), so
    they are recognised by prefix and the date alone is parsed; anything else falls back to `parse_key`.
    """

    __slots__ = ("cadence", "date_length", "file_index", "stem")

    def __init__(self, file: ArchiveFile, file_index: int) -> None:
        self.stem = file.directory + file_stem(file.symbol, file.interval, file.dataset)
        self.cadence = file.cadence
        self.date_length = PERIOD_TEXT_LENGTH[file.cadence]
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
            period = self.listing.period(rest[:n], directory.cadence) if tail in FILE_TAILS else None
            if period is not None:
                if tail == ZIP_SUFFIX:
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
        value = self._periods[cache_key] = canonical_period(text, cadence)
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
