"""Contract tests over the dataset registry: every entry is complete and self-consistent."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from binance_lake.core.datasets import (
    DATASETS,
    REST_STATISTICS,
    TIMESTAMP,
    ColumnKind,
    Granularity,
    datasets_for,
    get_dataset,
)
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Cadence, Market

ALL = sorted(DATASETS)
EXPECTED = {
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "fundingRate",
    "metrics",
    "aggTrades",
    "trades",
    "bookTicker",
    "bookDepth",
    "liquidationSnapshot",
    "BVOLIndex",
    "EOHSummary",
}
STREAM_ONLY = {"markPrice", "liquidations"}  # issue 15: from WebSocket streams, never in the archive
# issue 11: the `/futures/data/*` statistics of reference §4.2 (UM) and §4.4 (CM), served by REST only
REST_ONLY = {
    "openInterestHist",
    "topLongShortAccountRatio",
    "topLongShortPositionRatio",
    "globalLongShortAccountRatio",
    "takerlongshortRatio",
    "takerBuySellVol",
}


def test_registry_holds_every_dataset_of_the_reference() -> None:
    assert set(DATASETS) == EXPECTED | STREAM_ONLY | REST_ONLY
    assert {n for n, s in DATASETS.items() if not s.in_archive} == STREAM_ONLY | REST_ONLY
    assert {n for n, s in DATASETS.items() if s.rest_period is not None} == REST_ONLY
    assert set(REST_STATISTICS) == REST_ONLY


def test_rest_only_statistics_follow_the_reference() -> None:
    um, cm = Market.UM, Market.CM
    assert {s.name for s in datasets_for(um) if s.rest_period} == REST_ONLY - {"takerBuySellVol"}
    assert {s.name for s in datasets_for(cm) if s.rest_period} == REST_ONLY - {"takerlongshortRatio"}
    assert not {s.name for s in datasets_for(um, archive_only=True)} & REST_ONLY
    for name in REST_ONLY:
        spec = DATASETS[name]
        assert spec.rest_period == "5m" and not spec.cadences and not spec.has_interval
        assert spec.time_column == "timestamp" and spec.granularity is Granularity.MONTH
    # UM's capture has CMCCirculatingSupply; CM's position ratio says long/shortPosition (reference §4.4).
    assert "cmc_circulating_supply" in get_dataset("openInterestHist").schema(um).names
    assert "cmc_circulating_supply" not in get_dataset("openInterestHist").schema(cm).names
    assert get_dataset("topLongShortPositionRatio").schema(um).names[2:] == ["long_account", "short_account"]
    assert get_dataset("topLongShortPositionRatio").schema(cm).names[2:] == [
        "long_position",
        "short_position",
    ]


@pytest.mark.parametrize("name", ALL)
def test_every_dataset_is_complete(name: str) -> None:
    spec = DATASETS[name]
    assert spec.markets and spec.description
    assert bool(spec.cadences) == spec.in_archive, (
        "archive datasets have cadences, stream/REST-only ones none"
    )
    assert spec.rest_period is None or not spec.in_archive, "a REST statistics dataset is not in the archive"
    for market in spec.markets:
        layout = spec.layout(market)
        assert layout.columns
        names = [c.name for c in layout.kept]
        assert len(names) == len(set(names)), "lake column names are unique"
        assert spec.time_column in names
        assert set(spec.unique_key) <= set(names)
        assert spec.time_columns(market), "every dataset has a time column"
        schema = spec.schema(market)
        assert schema.names == names, "the schema matches the column list"
        for column in layout.kept:
            field = schema.field(column.name)
            assert field.type == column.arrow_type
            if column.is_time:
                assert field.type == TIMESTAMP
        if market is Market.SPOT:
            assert layout.header is None, "spot files never have a header"
        else:
            assert layout.header == ",".join(layout.names)


def test_header_texts_equal_the_reference() -> None:
    um, cm = Market.UM, Market.CM
    assert get_dataset("klines").layout(um).header == (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore"
    )
    assert get_dataset("aggTrades").layout(um).header == (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    )
    assert get_dataset("trades").layout(um).header == "id,price,qty,quote_qty,time,is_buyer_maker"
    assert get_dataset("trades").layout(cm).header == "id,price,qty,base_qty,time,is_buyer_maker"
    assert (
        get_dataset("fundingRate").layout(um).header == "calc_time,funding_interval_hours,last_funding_rate"
    )
    assert get_dataset("metrics").layout(um).header == (
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
    )
    assert get_dataset("bookDepth").layout(um).header == "timestamp,percentage,depth,notional"
    assert get_dataset("bookTicker").layout(um).header == (
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
    )
    assert get_dataset("liquidationSnapshot").layout(cm).header == (
        "time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
        "last_fill_quantity,accumulated_fill_quantity"
    )
    assert get_dataset("BVOLIndex").layout(Market.OPTION).header == (
        "calc_time,symbol,base_asset,quote_asset,index_value"
    )


def test_spot_layouts_follow_the_readme_column_counts() -> None:
    assert len(get_dataset("klines").layout(Market.SPOT).columns) == 12
    assert len(get_dataset("aggTrades").layout(Market.SPOT).columns) == 8
    assert len(get_dataset("trades").layout(Market.SPOT).columns) == 7


def test_ignore_column_is_dropped_and_times_are_microsecond_utc() -> None:
    schema = get_dataset("klines").schema(Market.UM)
    assert "ignore" not in schema.names
    assert schema.field("open_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("count").type == pa.int64()


def test_cadences_and_granularity() -> None:
    assert DATASETS["fundingRate"].cadences == {Cadence.MONTHLY}
    for daily_only in ("metrics", "bookDepth", "liquidationSnapshot", "BVOLIndex", "EOHSummary"):
        assert DATASETS[daily_only].cadences == {Cadence.DAILY}
    assert DATASETS["klines"].granularity is Granularity.MONTH
    assert DATASETS["trades"].granularity is Granularity.DAY


def test_text_datetimes_and_epoch_units() -> None:
    metrics = get_dataset("metrics").layout(Market.UM)
    assert metrics.columns[0].kind is ColumnKind.TEXT_TIME
    klines = get_dataset("klines")
    assert klines.epoch_unit(Market.SPOT, dt.date(2024, 12, 31)) == "ms"
    assert klines.epoch_unit(Market.SPOT, dt.date(2025, 1, 1)) == "us"
    assert klines.epoch_unit(Market.UM, dt.date(2026, 1, 1)) == "ms"


def test_markets_of_each_dataset() -> None:
    assert {s.name for s in datasets_for(Market.SPOT)} == {"klines", "aggTrades", "trades"}
    assert {s.name for s in datasets_for(Market.OPTION)} == {"BVOLIndex", "EOHSummary"}
    assert "fundingRate" in {s.name for s in datasets_for(Market.CM)}


def test_lookup_ignores_case_and_refuses_unknown_names() -> None:
    assert get_dataset("fundingrate").name == "fundingRate"
    with pytest.raises(UsageError, match="unknown dataset 'candles'"):
        get_dataset("candles")
