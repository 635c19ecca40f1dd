"""Stream payloads → events and lake rows, on the reference's documented examples (reference §5)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import ServerError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.realtime.events import agg_trade_row, ms_time, parse_message

KLINE = {"e": "kline", "E": 1638747660000, "s": "BTCUSDT", "k": {"t": 1638747660000, "T": 1638747719999, "s": "BTCUSDT", "i": "1m", "f": 100, "L": 200, "o": "0.0010", "c": "0.0020", "h": "0.0025", "l": "0.0015", "v": "1000", "n": 100, "x": False, "q": "1.0000", "V": "500", "Q": "0.500", "B": "123456"}}  # fmt: skip
MARK = {"e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000", "i": "11784.62659091", "P": "11784.25641265", "r": "0.00038167", "T": 1562306400000}  # fmt: skip
FORCE = {"e": "forceOrder", "E": 1568014460893, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014", "p": "9910", "ap": "9910", "X": "FILLED", "l": "0.014", "z": "0.014", "T": 1568014460893}}  # fmt: skip
AGG = {"e": "aggTrade", "E": 123456789, "s": "BTCUSDT", "a": 5933014, "p": "0.001", "q": "100", "f": 100, "l": 105, "T": 123456785, "m": True}  # fmt: skip


def _combined(stream: str, data: dict[str, object]) -> str:
    return json.dumps({"stream": stream, "data": data})


def _fits(dataset: str, row: dict[str, object]) -> None:
    """The row converts to the dataset's lake schema without loss of a column."""
    schema = get_dataset(dataset).schema(Market.UM)
    assert set(row) == set(schema.names)
    pa.Table.from_pylist([row], schema=schema)


def test_open_kline_is_an_event_without_a_row_and_the_closed_one_is_the_bar() -> None:
    event = parse_message(_combined("btcusdt@kline_1m", KLINE))
    assert event is not None and event.kind == "kline" and event.interval is Interval.M1 and not event.closed
    assert event.row() is None
    closed = parse_message(_combined("btcusdt@kline_1m", {**KLINE, "k": {**KLINE["k"], "x": True}}))  # type: ignore[dict-item]
    assert closed is not None
    row = closed.row()
    assert row is not None and row["open_time"] == ms_time(1638747660000) and row["close"] == 0.002
    _fits("klines", row)


def test_mark_price_and_cm_delivery_without_funding() -> None:
    event = parse_message(_combined("btcusdt@markPrice@1s", MARK))
    assert event is not None and event.dataset == "markPrice"
    row = event.row()
    assert row is not None and row["funding_rate"] == 0.00038167
    assert row["next_funding_time"] == dt.datetime(2019, 7, 5, 6, 0, tzinfo=dt.UTC)
    _fits("markPrice", row)
    delivery = parse_message(json.dumps({**MARK, "s": "BTCUSD_261225", "r": "", "T": 0}))
    assert delivery is not None
    row = delivery.row()
    assert row is not None and row["funding_rate"] is None and row["next_funding_time"] is None


def test_force_order_keeps_ps_and_st_when_present() -> None:
    old = parse_message(_combined("!forceOrder@arr", FORCE))
    assert old is not None and old.symbol == "BTCUSDT"
    row = old.row()
    assert row is not None and row["pair"] is None and row["st"] is None and row["side"] == "SELL"
    _fits("liquidations", row)
    new = parse_message(
        _combined("btcusdt@forceOrder", {**FORCE, "o": {**FORCE["o"], "ps": "BTCUSDT", "st": 1}})
    )  # type: ignore[dict-item]
    assert new is not None
    row = new.row()
    assert row is not None and row["pair"] == "BTCUSDT" and row["st"] == 1
    assert row["event_time"] == ms_time(1568014460893)


def test_agg_trade_raw_and_control_answers() -> None:
    event = parse_message(json.dumps(AGG))
    assert event is not None and event.stream == "" and event.event_time == 123456789
    row = event.row()
    assert row is not None
    _fits("aggTrades", row)
    assert parse_message('{"result":null,"id":1}') is None
    assert parse_message('{"code":2,"msg":"bad","id":1}') is None
    assert parse_message('{"e":"depthUpdate","E":1}') is None


@pytest.mark.parametrize("text", ["not json", "[1,2]", '{"stream":"x","data":[1]}', '{"e":"aggTrade","E":1}'])
def test_malformed_messages_are_one_sentence(text: str) -> None:
    with pytest.raises(ServerError):
        parse_message(text)


@given(
    st.integers(1, 2**40), st.integers(1, 10**7), st.integers(1, 10**6), st.integers(0, 2**41), st.booleans()
)
def test_stream_and_rest_agg_trades_give_the_same_row(
    ident: int, price: int, qty: int, ms: int, maker: bool
) -> None:
    rest = {"a": ident, "p": f"{price / 100:.2f}", "q": f"{qty / 1000:.3f}", "f": ident * 2, "l": ident * 2 + 1, "T": ms, "m": maker}  # fmt: skip
    event = parse_message(json.dumps({"e": "aggTrade", "E": ms, "s": "X", **rest}))
    assert event is not None
    assert event.row() == agg_trade_row(rest)
    assert agg_trade_row(rest)["transact_time"] == (ms_time(ms) if ms else None)
