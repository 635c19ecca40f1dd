"""binance/tickers.py: parsing the 24 h ticker answers of fapi, dapi and spot, and malformed answers."""

from __future__ import annotations

import json

import pytest

from binance_lake.binance.tickers import Ticker, parse_tickers
from binance_lake.core.errors import ServerError
from binance_lake.core.vocabulary import Market

URL = "https://fapi.binance.com/fapi/v1/ticker/24hr"


def test_quote_volume_per_market() -> None:
    um = json.dumps([{"symbol": "BTCUSDT", "quoteVolume": "1234.5", "volume": "1"}]).encode()
    assert parse_tickers(um, Market.UM, url=URL) == [Ticker("BTCUSDT", 1234.5)]
    # dapi has no quoteVolume: base volume times the weighted price is the USD volume
    cm = json.dumps(
        [{"symbol": "BTCUSD_PERP", "baseVolume": "2", "weightedAvgPrice": "50000", "volume": "1000"}]
    )
    assert parse_tickers(cm.encode(), Market.CM, url=URL) == [Ticker("BTCUSD_PERP", 100000.0)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "is not JSON"),
        (b'{"symbol": "BTCUSDT"}', "is not a list"),
        (b'[{"quoteVolume": "1"}]', "without a symbol"),
        (b'[{"symbol": "BTCUSDT", "quoteVolume": "n/a"}]', "no number quoteVolume"),
    ],
)
def test_malformed_answers_are_one_sentence(body: bytes, message: str) -> None:
    with pytest.raises(ServerError, match=message):
        parse_tickers(body, Market.UM, url=URL)
