"""Archive file identity: build a file's key, URL and `.CHECKSUM` URL, and parse a key back.

Pure. The key grammar (reference §1, `python/utility.py:get_path` in binance-public-data):

    data/{spot | futures/um | futures/cm | option}/{daily | monthly}/{dataType}/{SYMBOL}/[{interval}/]{file}
    file = {SYMBOL}-{interval | dataType}-{YYYY-MM-DD | YYYY-MM}.zip[.CHECKSUM]

e.g. https://data.binance.vision/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2019-12-31.zip

Kline-family files (mark, index, premium index too) carry the interval, never the type name. Parsing is
total: any string parses to a `ParsedKey` or to an explicit `NotADatasetFile`, never an exception.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from binance_lake.core.datasets import DatasetSpec, check_series, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import iter_days, month_end, month_text
from binance_lake.core.vocabulary import Cadence, Interval, Market

CHECKSUM_SUFFIX = ".CHECKSUM"
ARCHIVE_ROOT = "data/"
ZIP_SUFFIX = ".zip"
# What follows a file name's period: the zip, or its checksum.
FILE_TAILS = (ZIP_SUFFIX, ZIP_SUFFIX + CHECKSUM_SUFFIX)

# The period of a key we build (`ArchiveFile.period_text`): zero-padded, so of a fixed length per cadence.
CANONICAL_PERIOD = {
    Cadence.DAILY: re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    Cadence.MONTHLY: re.compile(r"(\d{4})-(\d{2})"),
}
PERIOD_TEXT_LENGTH = {Cadence.DAILY: 10, Cadence.MONTHLY: 7}

_DAILY_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# The month is zero-padded except in a few malformed keys: `ADABKRW-1d-2020-8.zip` (issue #469).
_MONTHLY_DATE = re.compile(r"^(\d{4})-(\d{1,2})$")


def file_stem(symbol: str, interval: Interval | str | None, dataset: str) -> str:
    """What every file name of one directory starts with: `BTCUSDT-1h-` (kline family), `BTCUSDT-trades-`."""
    tag = interval.value if isinstance(interval, Interval) else interval
    return f"{symbol}-{tag if tag is not None else dataset}-"


def canonical_period(text: str, cadence: Cadence) -> dt.date | None:
    """The date of a period text in the form we build (`YYYY-MM-DD` daily, `YYYY-MM` monthly); None for
    anything else, which the listing fast path hands to `parse_key`."""
    match = CANONICAL_PERIOD[cadence].fullmatch(text)
    if match is None:
        return None
    numbers = [int(g) for g in match.groups()]
    try:
        return dt.date(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1)
    except ValueError:
        return None


@dataclass(frozen=True, order=True)
class ArchiveFile:
    """One dataset file of the archive, identified by what it holds.

    `period` is the file's day for daily files and the first day of the month for monthly files.
    Construction validates the combination against the registry; a bad one is a `UsageError`.
    """

    market: Market
    cadence: Cadence
    dataset: str
    symbol: str
    interval: Interval | None
    period: dt.date

    def __post_init__(self) -> None:
        spec = check_series(self.dataset, self.market, self.interval, self.symbol)
        if self.cadence not in spec.cadences:
            raise UsageError(f"{self.dataset} has no {self.cadence.value} files")
        if self.cadence is Cadence.MONTHLY and self.period.day != 1:
            raise UsageError(f"a monthly file's period is the first day of its month, not {self.period}")

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset(self.dataset)

    @property
    def period_text(self) -> str:
        """`YYYY-MM-DD` for daily files, `YYYY-MM` for monthly ones."""
        if self.cadence is Cadence.DAILY:
            return self.period.isoformat()
        return month_text(self.period)

    @property
    def file_name(self) -> str:
        """e.g. `BTCUSDT-1h-2019-12-31.zip`, `BTCUSDT-fundingRate-2024-01.zip`."""
        return f"{file_stem(self.symbol, self.interval, self.dataset)}{self.period_text}{ZIP_SUFFIX}"

    @property
    def directory(self) -> str:
        """The key prefix that holds this file, ending in '/'."""
        parts = [f"data/{self.market.archive_dir}", self.cadence.value, self.dataset, self.symbol]
        if self.interval is not None:
            parts.append(self.interval.value)
        return "/".join(parts) + "/"

    @property
    def key(self) -> str:
        return self.directory + self.file_name

    @property
    def checksum_key(self) -> str:
        return self.key + CHECKSUM_SUFFIX

    def url(self, archive_url: str) -> str:
        return join_url(archive_url, self.key)

    def checksum_url(self, archive_url: str) -> str:
        return join_url(archive_url, self.checksum_key)

    @property
    def first_day(self) -> dt.date:
        return self.period

    @property
    def last_day(self) -> dt.date:
        return self.period if self.cadence is Cadence.DAILY else month_end(self.period)

    def days(self) -> tuple[dt.date, ...]:
        """The UTC days this file covers."""
        return tuple(iter_days(self.first_day, self.last_day))


@dataclass(frozen=True)
class ParsedKey:
    """A key that names a dataset file (or its `.CHECKSUM`).

    `key` is the key exactly as listed; `canonical` is False when it differs from the key we would build
    for the same file (the un-padded month of `ADABKRW-1d-2020-8.zip`), so downloads use `key`.
    """

    file: ArchiveFile
    key: str
    is_checksum: bool

    @property
    def canonical(self) -> bool:
        built = self.file.checksum_key if self.is_checksum else self.file.key
        return built == self.key

    @property
    def zip_key(self) -> str:
        """The key of the zip itself (for a `.CHECKSUM` key, the key without the suffix)."""
        return self.key.removesuffix(CHECKSUM_SUFFIX) if self.is_checksum else self.key


@dataclass(frozen=True)
class NotADatasetFile:
    """A key that is not a dataset file: an index page, a changelog, an empty directory, a typo."""

    key: str
    reason: str


def join_url(base: str, key: str) -> str:
    return base.rstrip("/") + "/" + key.lstrip("/")


_MARKET_BY_DIR = {m.archive_dir: m for m in Market}


def _split_market(parts: list[str]) -> tuple[Market, list[str]] | str:
    if parts and parts[0] == "futures":
        head = "/".join(parts[:2])
        rest = parts[2:]
    else:
        head = parts[0] if parts else ""
        rest = parts[1:]
    market = _MARKET_BY_DIR.get(head)
    if market is None:
        return f"unknown market directory {head!r}"
    return market, rest


def _parse_period(text: str, cadence: Cadence) -> dt.date | str:
    pattern = _DAILY_DATE if cadence is Cadence.DAILY else _MONTHLY_DATE
    match = pattern.match(text)
    if match is None:
        return f"{text!r} is not a {cadence.value} date"
    numbers = [int(g) for g in match.groups()]
    try:
        return dt.date(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1)
    except ValueError:
        return f"{text!r} is not a valid date"


def _parse_file_name(
    name: str, symbol: str, interval: str | None, dataset: str, cadence: Cadence
) -> tuple[bool, dt.date] | str:
    is_checksum = name.endswith(FILE_TAILS[1])
    if not (is_checksum or name.endswith(ZIP_SUFFIX)):
        return "not a .zip or .zip.CHECKSUM file"
    stem = name.removesuffix(CHECKSUM_SUFFIX).removesuffix(ZIP_SUFFIX)
    prefix = file_stem(symbol, interval, dataset)
    if not stem.startswith(prefix):
        return f"file name {name!r} does not start with {prefix!r}"
    period = _parse_period(stem[len(prefix) :], cadence)
    if isinstance(period, str):
        return period
    return is_checksum, period


def _parse_parts(key: str) -> ParsedKey | str:
    if not key.startswith(ARCHIVE_ROOT):
        return "not under data/"
    parts = key[len(ARCHIVE_ROOT) :].split("/")
    if any(p == "" for p in parts):
        return "empty path segment"  # e.g. the real `data/futures/um/daily/klines/BTCUSDT//` prefix
    split = _split_market(parts)
    if isinstance(split, str):
        return split
    market, rest = split
    if len(rest) not in (4, 5):
        return "wrong number of path segments"
    cadence_text, dataset, symbol, *middle, name = rest
    try:
        cadence = Cadence(cadence_text)
        spec = get_dataset(dataset)
    except (ValueError, UsageError) as error:
        return str(error)
    if spec.name != dataset:
        return f"dataset directory {dataset!r} is not spelled as Binance spells it ({spec.name!r})"
    if len(middle) != (1 if spec.has_interval else 0):
        return "interval directory missing or unexpected"
    interval_text = middle[0] if middle else None
    parsed = _parse_file_name(name, symbol, interval_text, dataset, cadence)
    if isinstance(parsed, str):
        return parsed
    is_checksum, period = parsed
    try:
        interval = Interval(interval_text) if interval_text is not None else None
        file = ArchiveFile(market, cadence, dataset, symbol, interval, period)
    except (ValueError, UsageError) as error:
        return str(error)
    return ParsedKey(file=file, key=key, is_checksum=is_checksum)


def parse_key(key: str) -> ParsedKey | NotADatasetFile:
    """Parse an archive key. Total: every input gives a `ParsedKey` or a `NotADatasetFile`."""
    result = _parse_parts(key)
    if isinstance(result, str):
        return NotADatasetFile(key=key, reason=result)
    return result


def parse_url(url: str, archive_url: str) -> ParsedKey | NotADatasetFile:
    """Parse a download URL built on `archive_url`."""
    base = archive_url.rstrip("/") + "/"
    if not url.startswith(base):
        return NotADatasetFile(key=url, reason=f"not under {base}")
    return parse_key(url[len(base) :])


def dataset_prefix(market: Market, cadence: Cadence, dataset: str) -> str:
    """The listing prefix of one dataset: `data/futures/um/daily/klines/`."""
    return f"data/{market.archive_dir}/{cadence.value}/{dataset}/"
