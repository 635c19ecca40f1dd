"""Partition paths: the fast text form the stat check uses is the same path as the pathlib one."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.partitions import parse_partition_path, partition_paths, partitions_of
from binance_lake.core.vocabulary import Cadence, Interval, Market

SERIES = [
    (Market.UM, "klines", "BTCUSDT", Interval.H1),
    (Market.CM, "markPriceKlines", "BTCUSD_PERP", Interval.M1),
    (Market.UM, "aggTrades", "ETHUSDT", None),
    (Market.SPOT, "trades", "BTCUSDT", None),
    (Market.UM, "fundingRate", "BTCUSDT", None),
]


@st.composite
def files(draw: st.DrawFn) -> ArchiveFile:
    market, dataset, symbol, interval = draw(st.sampled_from(SERIES))
    cadence = draw(
        st.sampled_from([Cadence.DAILY, Cadence.MONTHLY] if dataset != "fundingRate" else [Cadence.MONTHLY])
    )
    day = draw(st.dates(dt.date(2020, 1, 1), dt.date(2026, 12, 31)))
    period = day.replace(day=1) if cadence is Cadence.MONTHLY else day
    return ArchiveFile(market, cadence, dataset, symbol, interval, period)


@given(files())
def test_partition_paths_are_the_partitions_paths(file: ArchiveFile) -> None:
    partitions = partitions_of(file)
    assert partition_paths(file) == tuple(str(p.path) for p in partitions)
    assert all(p.posix == str(p.path) and parse_partition_path(p.posix) == p for p in partitions)


def test_period_file_name_by_granularity() -> None:
    from binance_lake.core.datasets import Granularity
    from binance_lake.core.partitions import period_file_name

    assert period_file_name(dt.date(2024, 3, 1), Granularity.MONTH) == "2024-03.parquet"
    assert period_file_name(dt.date(2024, 3, 5), Granularity.DAY) == "2024-03-05.parquet"
