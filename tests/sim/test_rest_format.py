"""JSON shaping of the simulated REST APIs: number text and the wire arrays/objects."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.vocabulary import Market
from binance_lake.sim.rest_format import (
    banned_body,
    format_number,
    format_shortest,
    funding_object,
    kline_array,
    too_many_requests_body,
)

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(finite)
def test_futures_number_text_reads_back_equal_and_is_positional(value: float) -> None:
    text = format_number(value, Market.UM)
    assert float(text) == value
    assert "e" not in text.lower()


@given(st.integers(min_value=0, max_value=10**12))
def test_spot_number_text_has_eight_decimals(units: int) -> None:
    value = units / 10**8
    text = format_number(value, Market.SPOT)
    assert len(text.split(".")[1]) == 8
    assert float(text) == value


def test_number_text_examples_from_the_archive() -> None:
    assert format_number(34161.6, Market.UM) == "34161.6"
    assert format_number(409953.0, Market.CM) == "409953"
    assert format_number(0.0, Market.UM) == "0"
    assert format_shortest(-0.0) == "0"
    assert format_shortest(0.00001) == "0.00001"
    assert format_number(34151.66, Market.SPOT) == "34151.66000000"


def test_kline_array_shape_and_time_units() -> None:
    row = {
        "open_time": 1698364800000_000,
        "open": 34161.6,
        "high": 34182.5,
        "low": 33977.4,
        "close": 34024.2,
        "volume": 409953.0,
        "close_time": 1698368399999_000,
        "quote_volume": 1202.97118037,
        "count": 15095,
        "taker_buy_volume": 192220.0,
        "taker_buy_quote_volume": 564.12041453,
    }
    # the CM row of issue #283, as REST sends it
    assert kline_array(row, Market.CM, 1000) == [
        1698364800000,
        "34161.6",
        "34182.5",
        "33977.4",
        "34024.2",
        "409953",
        1698368399999,
        "1202.97118037",
        15095,
        "192220",
        "564.12041453",
        "0",
    ]
    assert kline_array(row, Market.SPOT, 1)[0] == 1698364800000_000


def test_funding_object_key_order_is_the_2026_capture() -> None:
    obj = funding_object("BTCUSDT", 1791244800003, -0.00002485, 85718.55362319)
    assert list(obj) == ["symbol", "fundingTime", "fundingRate", "markPrice", "rateType"]
    assert obj["fundingRate"] == "-0.00002485" and obj["markPrice"] == "85718.55362319"
    assert funding_object("X", 1, 0.0001, None)["markPrice"] == ""


def test_limit_bodies_match_the_real_ones() -> None:
    assert json.dumps(too_many_requests_body("204.168.146.253", 2400)) == (
        '{"code": -1003, "msg": "Too many requests; current limit of IP(204.168.146.253) is 2400 requests per '
        'minute. Please use the websocket for live updates to avoid polling the API."}'
    )
    assert banned_body("194.127.199.97", 1746327239762)["msg"] == (
        "Way too many requests; IP(194.127.199.97) banned until 1746327239762. "
        "Please use the websocket for live updates to avoid bans."
    )
