"""Stream request parsing: channels, markets, durations and options, each refusal one sentence."""

from __future__ import annotations

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.realtime.channels import parse_channels
from binance_lake.realtime.request import StreamOptions, build_request, parse_duration


def test_channels_to_stream_names_and_datasets() -> None:
    request = build_request(
        "um", ["btcusdt", "ETHUSDT"], "kline_1m,markPrice@1s,aggTrade,forceOrder", all_liquidations=True
    )
    assert request.market is Market.UM and request.symbols == ("BTCUSDT", "ETHUSDT")
    assert request.stream_names()[:4] == [
        "btcusdt@kline_1m",
        "btcusdt@markPrice@1s",
        "btcusdt@aggTrade",
        "btcusdt@forceOrder",
    ]
    assert request.stream_names()[-1] == "!forceOrder@arr"
    assert [c.dataset for c in request.channels] == ["klines", "markPrice", "aggTrades", "liquidations"]
    assert parse_channels("kline_1h")[0].interval is Interval.H1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"market": "spot"}, "streams exist for um and cm"),
        ({"market": "xx"}, "streams exist for um and cm"),
        ({"channels": "kline_7m"}, "unknown kline interval"),
        ({"channels": "depth"}, "unknown channel"),
        ({"channels": ""}, "no channels"),
        ({"symbols": []}, "nothing to stream"),
        ({"redis_url": "http://x"}, "redis://"),
    ],
)
def test_refusals(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"market": "um", "symbols": ["BTCUSDT"], "channels": "aggTrade", **kwargs}
    with pytest.raises(UsageError, match=message):
        build_request(values.pop("market"), values.pop("symbols"), values.pop("channels"), **values)  # type: ignore[arg-type]


def test_durations_and_options() -> None:
    assert parse_duration("90s") == 90 and parse_duration("15m") == 900 and parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400 and parse_duration("5") == 5 and parse_duration(None) is None
    for bad in ("soon", "0s", "-3m"):
        with pytest.raises(UsageError, match="not a duration"):
            parse_duration(bad)
    with pytest.raises(UsageError, match="at most 200 streams"):
        StreamOptions(max_streams=201)
    with pytest.raises(UsageError, match="below Binance's 10"):
        StreamOptions(subscribe_rate=10)
    with pytest.raises(UsageError, match="positive"):
        StreamOptions(flush_interval=0)
