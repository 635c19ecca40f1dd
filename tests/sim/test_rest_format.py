"""JSON shaping of the simulated REST APIs: number text and the wire arrays/objects."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.sim.rest_format import (
    archive_text,
    banned_body,
    funding_object,
    kline_array,
    too_many_requests_body,
)


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=0, max_value=8))
def test_archive_text_has_fixed_decimals_and_reads_back(units: int, decimals: int) -> None:
    value = units / 10**decimals
    text = archive_text(value, decimals)
    assert float(text) == value
    assert len(text.partition(".")[2]) == decimals
    assert "e" not in text


def test_archive_text_examples_from_the_archive() -> None:
    assert archive_text(34161.6, 1) == "34161.6"
    assert archive_text(409953.0, 0) == "409953"
    assert archive_text(34151.66, 8) == "34151.66000000"
    assert archive_text(-0.00002485, 8) == "-0.00002485"
    assert archive_text(0.0, 0) == "0"


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
    decimals = {"open": 1, "high": 1, "low": 1, "close": 1, "volume": 0, "taker_buy_volume": 0}
    # the CM row of issue #283, as REST sends it
    assert kline_array(row, decimals, 1000) == [
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
    assert kline_array(row, decimals, 1)[0] == 1698364800000_000


def test_funding_object_key_order_is_the_2026_capture() -> None:
    obj = funding_object("BTCUSDT", 1791244800003, "-0.00002485", 85718.55362319)
    assert list(obj) == ["symbol", "fundingTime", "fundingRate", "markPrice", "rateType"]
    assert obj["fundingRate"] == "-0.00002485" and obj["markPrice"] == "85718.55362319"
    assert funding_object("X", 1, "0.00010000", None)["markPrice"] == ""


def test_limit_bodies_match_the_real_ones() -> None:
    assert json.dumps(too_many_requests_body("204.168.146.253", 2400)) == (
        '{"code": -1003, "msg": "Too many requests; current limit of IP(204.168.146.253) is 2400 requests per '
        'minute. Please use the websocket for live updates to avoid polling the API."}'
    )
    assert banned_body("194.127.199.97", 1746327239762)["msg"] == (
        "Way too many requests; IP(194.127.199.97) banned until 1746327239762. "
        "Please use the websocket for live updates to avoid bans."
    )
