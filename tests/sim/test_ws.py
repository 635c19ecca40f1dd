"""The simulator's WebSocket side: payloads equal the ground truth, routing, control messages and faults."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from binance_lake.core import quirks
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.sim.ws import WsFaults
from binance_lake.sim.ws_events import liquidation_payloads

SYMBOL = "BTCUSDT"


def _universe() -> Universe:
    universe = Universe.build("small")
    universe = dataclasses.replace(universe, tick_rates={(Market.UM, SYMBOL): 200_000})
    warm(universe, SYMBOL)
    return universe


def warm(universe: Universe, symbol: str) -> None:
    """Generate (and cache) the day tables the streams read, so the first events are not late."""
    day = universe.clock.now().date()
    pair = universe.symbol(Market.UM, symbol)
    assert pair is not None
    universe.day_table(Market.UM, "aggTrades", symbol, None, day)
    for dataset, name in (("klines", symbol), ("markPriceKlines", symbol), ("indexPriceKlines", pair.pair)):
        universe.day_table(Market.UM, dataset, name, Interval.M1, day)


@pytest.fixture
def fast_sim() -> Iterator[SimServer]:
    with SimServer(_universe(), stream_speed=120) as server:
        yield server


async def _collect(
    url: str, seconds: float, send: list[dict[str, Any]] | None = None
) -> tuple[list[Any], Any]:
    messages: list[Any] = []
    code = None
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for message in send or []:
            await ws.send_str(json.dumps(message))
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type is not aiohttp.WSMsgType.TEXT:
                code = ws.close_code
                break
            messages.append(json.loads(msg.data))
        return messages, code


def _base(server: SimServer) -> str:
    return f"ws://127.0.0.1:{server.port}/sim-fstream"


def test_combined_stream_replays_the_ground_truth(fast_sim: SimServer) -> None:
    streams = f"{SYMBOL.lower()}@aggTrade/{SYMBOL.lower()}@kline_1m/{SYMBOL.lower()}@markPrice@1s"
    messages, _ = asyncio.run(_collect(f"{_base(fast_sim)}/market/stream?streams={streams}", 3.0))
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        by_stream.setdefault(m["stream"], []).append(m["data"])
    trades = by_stream[f"{SYMBOL.lower()}@aggTrade"]
    ids = [t["a"] for t in trades]
    day = fast_sim.universe.clock.now().date()
    truth = fast_sim.universe.day_table(Market.UM, "aggTrades", SYMBOL, None, day)
    window = truth.filter(
        pc.and_(
            pc.greater_equal(truth["agg_trade_id"], ids[0]), pc.less_equal(truth["agg_trade_id"], ids[-1])
        )
    )
    assert ids == window["agg_trade_id"].to_pylist(), "every aggTrade of the window, in order, once"
    assert [float(t["p"]) for t in trades] == window["price"].to_pylist()
    klines = by_stream[f"{SYMBOL.lower()}@kline_1m"]
    closed = [k["k"] for k in klines if k["k"]["x"]]
    assert closed and any(not k["k"]["x"] for k in klines), "open updates and closed bars both arrive"
    bars = fast_sim.universe.day_table(Market.UM, "klines", SYMBOL, Interval.M1, day)
    opens = [int(t.timestamp() * 1000) for t in bars["open_time"].to_pylist()]
    for k in closed:
        row = bars.slice(opens.index(k["t"]), 1).to_pylist()[0]
        assert (float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), float(k["v"]), k["n"]) == (
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            row["count"],
        )
    marks = by_stream[f"{SYMBOL.lower()}@markPrice@1s"]
    assert {m["e"] for m in marks} == {"markPriceUpdate"}
    assert all(m["E"] % 1000 == 0 and m["T"] > m["E"] and m["r"] for m in marks)


def test_raw_stream_and_live_subscribe(fast_sim: SimServer) -> None:
    raw, _ = asyncio.run(_collect(f"{_base(fast_sim)}/market/ws/{SYMBOL.lower()}@markPrice@1s", 1.0))
    assert raw and all(m["e"] == "markPriceUpdate" for m in raw), "raw mode sends the payload unwrapped"
    control = [
        {"method": "SUBSCRIBE", "params": [f"{SYMBOL.lower()}@kline_1m"], "id": 1},
        {"method": "LIST_SUBSCRIPTIONS", "id": 2},
        {"method": "SUBSCRIBE", "params": [], "id": -1},
    ]
    messages, _ = asyncio.run(_collect(f"{_base(fast_sim)}/market/stream", 1.0, control))
    assert {"result": None, "id": 1} in messages
    assert {"result": [f"{SYMBOL.lower()}@kline_1m"], "id": 2} in messages
    assert any(m.get("code") == 2 for m in messages), "a negative id is an error object"
    assert any(m.get("stream") == f"{SYMBOL.lower()}@kline_1m" for m in messages)


def test_market_streams_only_on_the_market_route(fast_sim: SimServer) -> None:
    stream = f"{SYMBOL.lower()}@markPrice@1s"
    for url in (f"{_base(fast_sim)}/public/ws/{stream}", f"{_base(fast_sim)}/ws/{stream}"):
        messages, _ = asyncio.run(_collect(url, 0.6))
        assert messages == [], f"{url}: routed since {quirks.WS_ROUTED_FROM}, market streams only on /market"


def test_subscribe_burst_over_ten_a_second_is_disconnected() -> None:
    with SimServer(_universe(), stream_speed=60) as server:
        burst = [{"method": "LIST_SUBSCRIPTIONS", "id": k} for k in range(12)]
        messages, code = asyncio.run(_collect(f"{_base(server)}/market/stream", 1.0, burst))
        assert code == 1008
        assert server.streams.stats.refused == 1
        paced = [{"method": "LIST_SUBSCRIPTIONS", "id": k} for k in range(10)]
        messages, code = asyncio.run(_collect(f"{_base(server)}/market/stream", 0.5, paced))
        assert code is None and len(messages) == 10


def test_stream_limit_lifetime_drop_and_duplicates() -> None:
    faults = WsFaults.parse("streams=2,life=30,duplicate=1")
    with SimServer(_universe(), stream_faults=faults, stream_speed=60) as server:
        names = "/".join(f"{SYMBOL.lower()}@{c}" for c in ("aggTrade", "kline_1m", "markPrice"))
        _, code = asyncio.run(_collect(f"{_base(server)}/market/stream?streams={names}", 0.5))
        assert code == 1008, "more than `streams` streams on one connection are refused"
        url = f"{_base(server)}/market/stream?streams={SYMBOL.lower()}@markPrice@1s"
        messages, code = asyncio.run(_collect(url, 2.0))
        assert code == 1001, "closed at the connection's (simulated) lifetime"
        times = [m["data"]["E"] for m in messages]
        assert len(times) == 2 * len(set(times)), "duplicate=1 sends every message twice"
    with SimServer(_universe(), stream_faults="drop=5", stream_speed=60) as server:
        url = f"{_base(server)}/market/stream?streams={SYMBOL.lower()}@markPrice@1s"
        messages, _ = asyncio.run(_collect(url, 2.0))
        assert len(messages) == 5, "drop=5 aborts the connection after 5 messages"


def test_forced_disconnect_from_the_test() -> None:
    with SimServer(_universe(), stream_speed=60) as server:

        async def go() -> int:
            url = f"{_base(server)}/market/stream?streams={SYMBOL.lower()}@markPrice@1s"
            async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
                await ws.receive(timeout=2)
                assert await asyncio.to_thread(server.drop_streams) == 1
                while (msg := await ws.receive(timeout=2)).type is aiohttp.WSMsgType.TEXT:
                    pass
                return int(msg.type)

        assert asyncio.run(go()) in (
            int(aiohttp.WSMsgType.CLOSED),
            int(aiohttp.WSMsgType.ERROR),
            int(aiohttp.WSMsgType.CLOSE),
        )


def test_liquidation_payloads_have_every_field() -> None:
    universe = Universe.build("small")
    um = universe.symbol(Market.UM, SYMBOL)
    cm = universe.symbol(Market.CM, "BTCUSD_PERP")
    assert um is not None and cm is not None
    day = universe.clock.now().date()
    assert day >= quirks.UM_FORCE_ORDER_PS_ST_FROM
    events = liquidation_payloads(universe, Market.UM, um, day)
    truth = universe.day_table(Market.UM, "liquidationSnapshot", SYMBOL, None, day)
    assert len(events) == truth.num_rows > 0
    order = events[0][1]["o"]
    assert set(order) == {"s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T", "ps", "st"}
    old = liquidation_payloads(universe, Market.UM, um, quirks.UM_FORCE_ORDER_PS_ST_FROM.replace(month=9))
    assert old and "ps" not in old[0][1]["o"] and "st" not in old[0][1]["o"]
    cm_events = liquidation_payloads(universe, Market.CM, cm, day)
    assert cm_events and cm_events[0][1]["o"]["ps"] == cm.pair and "st" not in cm_events[0][1]["o"]
    assert pa.array([e[0] for e in events]).equals(pa.array(sorted(e[0] for e in events)))


def test_fault_spec_errors() -> None:
    assert WsFaults.parse("drop=3,duplicate=0.5").drop_every == 3
    with pytest.raises(UsageError, match="unknown stream fault"):
        WsFaults.parse("explode=1")
    with pytest.raises(UsageError, match="needs a number"):
        WsFaults.parse("drop=x")
