from __future__ import annotations

import datetime as dt

import pytest

from binance_lake.catalog.request import (
    MAX_PROBE_DAYS,
    build_filters,
    build_selection,
    check_days_back,
    day_span,
    probe_last_day,
)
from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Interval, Market


def test_a_selection_names_every_market_unless_told() -> None:
    selection = build_selection(Settings(), markets=None, datasets="klines", symbols=None, intervals="1h")
    assert selection.markets == tuple(Market) and selection.datasets == ("klines",)
    assert selection.symbols == () and selection.intervals == (Interval.H1,)


def test_a_selection_expands_symbol_sets_and_refuses_an_empty_list() -> None:
    settings = Settings(symbol_sets={"top": ("BTCUSDT",)})
    chosen = build_selection(settings, markets="um", datasets=None, symbols="@top,ethusdt", intervals=None)
    assert chosen.markets == (Market.UM,) and chosen.symbols == ("BTCUSDT", "ETHUSDT")
    with pytest.raises(UsageError, match="no symbols given"):
        build_selection(settings, markets="um", datasets=None, symbols=[], intervals=None)


def test_a_selection_with_no_dataset_in_its_markets_is_refused() -> None:
    with pytest.raises(UsageError, match="none of the chosen datasets exists"):
        build_selection(Settings(), markets="spot", datasets="fundingRate", symbols=None, intervals=None)


def test_filters_are_checked_names_or_none() -> None:
    filters = build_filters("um,cm", ["klines"], None, "btcusdt")
    assert (filters.market, filters.dataset, filters.interval, filters.symbol) == (
        ("um", "cm"),
        ("klines",),
        None,
        "BTCUSDT",
    )
    assert build_filters(None, None, None).market is None
    with pytest.raises(UsageError):
        build_filters("moon", None, None)


def test_probe_days() -> None:
    assert check_days_back(1) == 1 and check_days_back(MAX_PROBE_DAYS) == MAX_PROBE_DAYS
    for bad in (0, MAX_PROBE_DAYS + 1):
        with pytest.raises(UsageError, match="--days-back"):
            check_days_back(bad)
    assert probe_last_day("2024-01-15") == dt.date(2024, 1, 15)
    assert probe_last_day(None) == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def test_a_span_is_whole_days_in_order() -> None:
    assert day_span("2024-01-01", dt.date(2024, 1, 2)) == (dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    with pytest.raises(UsageError, match="is after end"):
        day_span("2024-01-02", "2024-01-01")
