from __future__ import annotations

import datetime as dt

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import (
    ALL_INTERVALS,
    Interval,
    Market,
    has_daily_files,
    intervals_for,
    is_daily_file_date,
    parse_interval,
    parse_market,
)


def test_all_sixteen_intervals_in_binance_order() -> None:
    assert [i.value for i in ALL_INTERVALS] == [
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1mo",
    ]


def test_one_second_bars_are_spot_only() -> None:
    assert Interval.S1 in intervals_for(Market.SPOT)
    assert Interval.S1 not in intervals_for(Market.UM)
    assert not has_daily_files(Market.UM, Interval.S1)


def test_daily_file_rules() -> None:
    assert has_daily_files(Market.SPOT, Interval.D1)
    assert not has_daily_files(Market.SPOT, Interval.W1)
    assert has_daily_files(Market.UM, Interval.W1)
    assert has_daily_files(Market.CM, Interval.D3)
    assert is_daily_file_date(Interval.W1, dt.date(2023, 6, 12))
    assert not is_daily_file_date(Interval.W1, dt.date(2023, 6, 13))
    assert is_daily_file_date(Interval.D3, dt.date(2023, 6, 15))
    assert is_daily_file_date(Interval.D3, dt.date(2022, 10, 21))
    assert is_daily_file_date(Interval.MO1, dt.date(2023, 5, 1))


def test_market_directories() -> None:
    assert Market.UM.archive_dir == "futures/um"
    assert Market.OPTION.archive_dir == "option"


def test_parsing_user_words() -> None:
    assert parse_interval("1M") is Interval.MO1
    assert parse_market("UM") is Market.UM
    assert Interval.MO1.rest_name == "1M"
    assert Interval.H1.milliseconds == 3_600_000
    with pytest.raises(UsageError, match="unknown interval '7m'"):
        parse_interval("7m")
    with pytest.raises(UsageError, match="unknown market"):
        parse_market("futures")
    with pytest.raises(UsageError):
        _ = Interval.MO1.duration
