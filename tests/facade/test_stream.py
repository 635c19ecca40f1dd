"""`Lake.stream(...)`: the async API, events as they come, stored on leaving."""

from __future__ import annotations

import asyncio
from pathlib import Path

from binance_lake import Lake
from binance_lake.core.vocabulary import Market
from binance_lake.realtime.events import StreamEvent
from binance_lake.realtime.request import StreamOptions
from binance_lake.sim.server import SimServer
from tests.realtime.truth import fast_universe


def test_async_with_lake_stream_yields_events_and_stores_them(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=60) as server:
        lake = Lake(settings=server.settings(tmp_path))

        async def run() -> list[StreamEvent]:
            events: list[StreamEvent] = []
            options = StreamOptions(flush_interval=0.3)
            async with lake.stream("BTCUSDT", "kline_1m,aggTrade", options=options) as s:
                async for event in s:
                    events.append(event)
                    if len(events) >= 60:
                        break
            return events

        events = asyncio.run(run())
        assert {e.kind for e in events} == {"kline", "aggTrade"}
        assert all(e.symbol == "BTCUSDT" for e in events)
        stored = lake.sql("SELECT count(*) AS n FROM aggTrades", as_="arrow")
        trades = sum(1 for e in events if e.kind == "aggTrade")
        assert stored["n"][0].as_py() >= trades


def test_all_symbols_are_the_trading_perpetuals_of_exchange_info(tmp_path: Path) -> None:
    with SimServer(fast_universe(()), stream_speed=60) as server:
        lake = Lake(settings=server.settings(tmp_path))
        now = server.universe.clock.now()
        perpetuals = {
            s.symbol
            for s in server.universe.symbols(Market.UM)
            if s.contract_type == "PERPETUAL" and s.status(now) == "TRADING"
        }

        async def run() -> set[str]:
            async with lake.stream(channels="markPrice@1s", all_symbols=True) as s:
                await s.run_for(2.0)
                return {name.split("@")[0].upper() for name in s.stats.last_event}

        seen = asyncio.run(run())
        assert len(perpetuals) >= 5 and seen == perpetuals
