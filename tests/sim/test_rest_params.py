"""Query-parameter reading of the simulated REST APIs and Binance's error codes."""

from __future__ import annotations

import pytest

from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim import rest_params as params
from binance_lake.sim.rest_params import RestError


def _code(call: object) -> int:
    assert callable(call)
    with pytest.raises(RestError) as caught:
        call()
    return caught.value.code


def test_limit_default_max_and_out_of_range() -> None:
    assert params.limit({}, 500, 1500) == 500
    assert params.limit({"limit": "1500"}, 500, 1500) == 1500
    assert _code(lambda: params.limit({"limit": "1501"}, 500, 1500)) == -1130
    assert _code(lambda: params.limit({"limit": "0"}, 500, 1500)) == -1130
    assert _code(lambda: params.limit({"limit": "ten"}, 500, 1500)) == -1100
    assert params.limit_or_default({"limit": "1501"}, 500, 1500) == 500


def test_intervals_use_rest_names_and_1s_is_spot_only() -> None:
    assert params.interval({"interval": "1M"}, Market.UM) is Interval.MO1
    assert params.interval({"interval": "1s"}, Market.SPOT) is Interval.S1
    assert _code(lambda: params.interval({"interval": "1s"}, Market.UM)) == -1120
    assert _code(lambda: params.interval({"interval": "1mo"}, Market.UM)) == -1120
    assert _code(lambda: params.interval({}, Market.UM)) == -1102


def test_time_range_start_after_end() -> None:
    assert params.time_range({"startTime": "5", "endTime": "5"}) == (5, 5)
    assert params.time_range({}) == (None, None)
    assert _code(lambda: params.time_range({"startTime": "6", "endTime": "5"})) == -1023


def test_statistics_periods() -> None:
    assert [params.period_minutes({"period": p}) for p in ("5m", "1h", "1d")] == [5, 60, 1440]
    assert _code(lambda: params.period_minutes({"period": "1m"})) == -1130
    assert _code(lambda: params.period_minutes({})) == -1102
