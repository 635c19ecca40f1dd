"""Lake partitions: where an archive file's rows live on disk, and parsing such a path back.

Pure. Layout (DESIGN.md, storage), Hive-style so DuckDB, polars, pandas and Spark read it directly:

    tables/<dataset>/market=<m>/[interval=<i>/]symbol=<S>/<YYYY-MM>.parquet      bar-like, a file a month
    tables/<dataset>/market=<m>/symbol=<S>/<YYYY-MM-DD>.parquet                   tick-like, a file a day
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import DatasetSpec, Granularity, check_series, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import iter_days, iter_months, month_end, month_start, month_text
from binance_lake.core.vocabulary import Interval, Market

TABLES_DIR = "tables"

_PATH = re.compile(
    r"^tables/(?P<dataset>[A-Za-z]+)/market=(?P<market>[a-z]+)/(?:interval=(?P<interval>[0-9a-z]+)/)?"
    r"symbol=(?P<symbol>[A-Z0-9_]+)/(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.parquet$"
)


@dataclass(frozen=True, order=True)
class Partition:
    """One Parquet file of the lake: a dataset's rows for one symbol over one month or one day."""

    dataset: str
    market: Market
    interval: Interval | None
    symbol: str
    period: dt.date  # the day (DAY granularity) or the first day of the month (MONTH granularity)

    def __post_init__(self) -> None:
        spec = check_series(self.dataset, self.market, self.interval, self.symbol)
        if spec.granularity is Granularity.MONTH and self.period.day != 1:
            raise UsageError("a monthly partition's period is the first day of its month")

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset(self.dataset)

    @property
    def directory(self) -> PurePosixPath:
        path = PurePosixPath(TABLES_DIR, self.dataset, f"market={self.market.value}")
        if self.interval is not None:
            path = path / f"interval={self.interval.value}"
        return path / f"symbol={self.symbol}"

    @property
    def path(self) -> PurePosixPath:
        """The partition's path relative to the lake root."""
        return self.directory / period_file_name(self.period, self.spec.granularity)

    @property
    def posix(self) -> str:
        """`path` as text, formatted without pathlib (the sync's stat check makes thousands of these)."""
        return _posix(
            self.dataset, self.market, self.interval, self.symbol, self.period, self.spec.granularity
        )

    @property
    def first_day(self) -> dt.date:
        return self.period

    @property
    def last_day(self) -> dt.date:
        return month_end(self.period) if self.spec.granularity is Granularity.MONTH else self.period


def partition_for_day(
    dataset: str, market: Market, interval: Interval | None, symbol: str, day: dt.date
) -> Partition:
    """The partition that holds `day`'s rows."""
    period = month_start(day) if get_dataset(dataset).granularity is Granularity.MONTH else day
    return Partition(dataset, market, interval, symbol, period)


def partitions_of(file: ArchiveFile) -> tuple[Partition, ...]:
    """The partitions an archive file's rows land in: one month, or each day the file covers."""
    if file.spec.granularity is Granularity.MONTH:
        months = iter_months(file.first_day, file.last_day)
    else:
        months = iter_days(file.first_day, file.last_day)
    return tuple(Partition(file.dataset, file.market, file.interval, file.symbol, p) for p in months)


def period_file_name(period: dt.date, granularity: Granularity) -> str:
    """A partition's file name: `YYYY-MM.parquet` for a month, `YYYY-MM-DD.parquet` for a day."""
    name = month_text(period) if granularity is Granularity.MONTH else period.isoformat()
    return f"{name}.parquet"


def _posix(
    dataset: str,
    market: Market,
    interval: Interval | None,
    symbol: str,
    period: dt.date,
    granularity: Granularity,
) -> str:
    part = f"interval={interval.value}/" if interval is not None else ""
    return f"{TABLES_DIR}/{dataset}/market={market.value}/{part}symbol={symbol}/{period_file_name(period, granularity)}"


def partition_paths(file: ArchiveFile) -> tuple[str, ...]:
    """The lake-relative paths of `partitions_of(file)`, without building (and validating) each partition:
    the sync's stat check asks for thousands."""
    granularity = file.spec.granularity
    periods = (
        iter_months(file.first_day, file.last_day)
        if granularity is Granularity.MONTH
        else iter_days(file.first_day, file.last_day)
    )
    return tuple(
        _posix(file.dataset, file.market, file.interval, file.symbol, p, granularity) for p in periods
    )


def parse_partition_path(path: str | PurePosixPath) -> Partition:
    """Parse a lake-relative partition path back; a path that is not one is a `UsageError`."""
    text = str(path)
    match = _PATH.match(text)
    if match is None:
        raise UsageError(f"{text!r} is not a lake partition path")
    groups = match.groupdict()
    period_text = groups["period"]
    try:
        period = dt.date.fromisoformat(period_text if len(period_text) == 10 else period_text + "-01")
        interval = Interval(groups["interval"]) if groups["interval"] else None
        market = Market(groups["market"])
    except ValueError as error:
        raise UsageError(f"{text!r} is not a lake partition path: {error}") from None
    partition = Partition(groups["dataset"], market, interval, groups["symbol"], period)
    if partition.path != PurePosixPath(text):
        raise UsageError(f"{text!r} is not the canonical path of its partition ({partition.path})")
    return partition
