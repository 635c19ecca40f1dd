"""The simulator's WebSocket market streams: Binance's futures entry points on loopback, with scriptable faults.

Mounted under `/sim-fstream` (USDⓈ-M) and `/sim-dstream` (COIN-M) like the REST apps: the routed entry points
`/market` and `/public`, each in raw `/ws/<stream>[/<stream>…]` and combined `/stream?streams=a/b` mode, plus
the retired unrouted forms. As upstream since 2026-04-23 (`core/quirks.py`), market streams (aggTrade, kline,
markPrice, forceOrder) flow only on `/market`; elsewhere a subscription is accepted and nothing arrives.
Live control messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY `combined`.

Events come from `sim.ws_events` (the universe's ground truth) as the simulator's clock passes them; the clock
moves when `StreamHub.speed` is set (simulated seconds per wall second; 0 leaves the clock to the tests).
Faults (`WsFaults`, spec `drop=N,silence=N,duplicate=R,reorder=R,rate=N,life=S,streams=N,ping=S,pong=S`): abort the
connection after every N data messages, go silent (open, nothing sent) after N, send a share R of messages twice
or swapped with the next, close a connection sending more than `rate` messages a second (Binance's 10/s), close
after `life` simulated seconds ("24 h"), refuse more than `streams` streams per connection (200), ping every
`ping` seconds and close a connection that sent no pong for `pong` seconds (Binance: 3 and 10 minutes).
`StreamHub.drop_all()` aborts every open connection now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from binance_lake.core import quirks
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.core.vocabulary import Market
from binance_lake.sim.universe import Universe
from binance_lake.sim.ws_events import StreamSource, parse_stream

STREAM_PREFIXES = {Market.UM: "/sim-fstream", Market.CM: "/sim-dstream"}
TICK_SECONDS = 0.02
"""How often a connection looks for new events (wall time)."""


@dataclass(frozen=True)
class WsFaults:
    """Scriptable faults of the WebSocket side (0 disables each)."""

    drop_every: int = 0
    silence_after: int = 0
    duplicate: float = 0.0
    reorder: float = 0.0
    rate: int = quirks.WS_MAX_INCOMING_PER_SECOND
    life_seconds: float = quirks.WS_CONNECTION_LIFE_SECONDS
    max_streams: int = quirks.WS_MAX_STREAMS
    ping_seconds: float = 180.0
    pong_seconds: float = 600.0
    seed: int = 7

    _KEYS: ClassVar[dict[str, str]] = {
        "drop": "drop_every", "silence": "silence_after", "duplicate": "duplicate", "reorder": "reorder",
        "rate": "rate", "life": "life_seconds", "streams": "max_streams", "ping": "ping_seconds", "pong": "pong_seconds",
    }  # fmt: skip

    @classmethod
    def parse(cls, text: str | None, *, seed: int = 7) -> WsFaults:
        values: dict[str, Any] = {"seed": seed}
        for part in split_list(text or ""):
            key, _, value = part.partition("=")
            name = cls._KEYS.get(key.strip())
            if name is None:
                raise UsageError(f"unknown stream fault {key!r}; expected one of: {', '.join(cls._KEYS)}")
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"stream fault {key} needs a number, not {value!r}") from None
            values[name] = (
                number if name in ("duplicate", "reorder", "life_seconds", "ping_seconds") else int(number)
            )
        return cls(**values)


@dataclass
class HubStats:
    connections: int = 0
    open: int = 0
    messages: int = 0
    refused: int = 0
    subscribes: int = 0


class StreamHub:
    """The WebSocket side's state: the universe, its faults, the open connections, the clock's speed."""

    def __init__(self, universe: Universe, faults: WsFaults | None = None, *, speed: float = 0.0) -> None:
        self.universe = universe
        self.faults = faults or WsFaults(seed=universe.seed)
        self.speed = speed
        self.stats = HubStats()
        self._sessions: set[_Session] = set()
        self._lock = threading.Lock()
        self._random = random.Random(self.faults.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return int(self.universe.clock.now().timestamp() * 1000)

    def chance(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS / 2)
            now = time.monotonic()
            if self.speed > 0:
                self.universe.clock.advance(dt.timedelta(seconds=(now - last) * self.speed))
            last = now

    async def on_startup(self, _app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick())

    async def on_shutdown(self, _app: web.Application) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for session in list(self._sessions):
            session.abort()

    def drop_all(self) -> int:
        """Abort every open connection (callable from any thread); returns how many."""
        sessions = list(self._sessions)
        if self._loop is not None:
            for session in sessions:
                self._loop.call_soon_threadsafe(session.abort)
        return len(sessions)

    def handler(self, market: Market, route: str | None, combined: bool) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            names = split_streams(
                request.query.get("streams", "") if combined else request.match_info.get("streams", "")
            )
            # Pings and pongs by hand, as Binance does: a ping every `ping`, closed without a pong for `pong`.
            ws = web.WebSocketResponse(autoping=False, heartbeat=None)
            await ws.prepare(request)
            session = _Session(self, market, route, combined, ws, request)
            self._sessions.add(session)
            self.stats.connections += 1
            self.stats.open += 1
            try:
                await session.run(names)
            finally:
                self._sessions.discard(session)
                self.stats.open -= 1
            return ws

        return handle


def split_streams(text: str) -> list[str]:
    return [name for name in text.split("/") if name]


class _Session:
    """One client connection: its subscriptions, cursors, counters and faults."""

    def __init__(
        self,
        hub: StreamHub,
        market: Market,
        route: str | None,
        combined: bool,
        ws: web.WebSocketResponse,
        request: web.Request,
    ) -> None:
        self.hub = hub
        self.request = request
        self.market = market
        self.delivers = route == quirks.WS_MARKET_ROUTE
        self.combined = combined
        self.ws = ws
        self.sources: dict[str, StreamSource | None] = {}
        self.cursors: dict[str, int] = {}
        self.sent = 0
        self.incoming: deque[float] = deque()
        self.started_ms = hub.now_ms()
        self.closing = False
        self.last_pong = time.monotonic()

    def abort(self) -> None:
        self.closing = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def subscribe(self, names: list[str]) -> str | None:
        if len(set(self.sources) | set(names)) > self.hub.faults.max_streams > 0:
            return f"too many streams: at most {self.hub.faults.max_streams} per connection"
        now = self.hub.now_ms()
        for name in names:
            if name not in self.sources:
                self.sources[name] = (
                    parse_stream(self.hub.universe, self.market, name) if self.delivers else None
                )
                self.cursors[name] = now
        self.hub.stats.subscribes += 1
        return None

    async def run(self, names: list[str]) -> None:
        problem = self.subscribe(names) if names else None
        if problem is not None:
            await self.ws.close(code=1008, message=problem.encode())
            return
        sender = asyncio.create_task(self._send_loop())
        pinger = asyncio.create_task(self._ping_loop())
        try:
            async for message in self.ws:
                if message.type is WSMsgType.PING:
                    await self.ws.pong(message.data)
                    continue
                if message.type is WSMsgType.PONG:
                    self.last_pong = time.monotonic()
                    continue
                if message.type is not WSMsgType.TEXT:
                    continue
                if not self._within_rate():
                    self.hub.stats.refused += 1
                    await self.ws.close(code=1008, message=b"too many requests")
                    break
                await self._control(message.data)
        finally:
            for task in (sender, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _ping_loop(self) -> None:
        faults = self.hub.faults
        if faults.ping_seconds <= 0:
            return
        while not self.ws.closed:
            await asyncio.sleep(faults.ping_seconds)
            if time.monotonic() - self.last_pong > faults.pong_seconds:
                await self.ws.close(code=1008, message=b"no pong")
                return
            await self.ws.ping()

    def _within_rate(self) -> bool:
        limit = self.hub.faults.rate
        now = time.monotonic()
        self.incoming.append(now)
        while self.incoming and self.incoming[0] <= now - 1.0:
            self.incoming.popleft()
        return limit <= 0 or len(self.incoming) <= limit

    async def _control(self, text: str) -> None:
        try:
            request = json.loads(text)
            ident = request["id"]
            method = request["method"]
            params = request.get("params", [])
            if not isinstance(ident, int) or ident < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            await self.ws.send_json(
                {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
            )
            return
        result: Any = None
        if method == "SUBSCRIBE":
            problem = self.subscribe([str(p) for p in params])
            if problem is not None:
                await self.ws.send_json({"code": 2, "msg": problem, "id": ident})
                return
        elif method == "UNSUBSCRIBE":
            for name in params:
                self.sources.pop(str(name), None)
                self.cursors.pop(str(name), None)
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(self.sources)
        elif method == "SET_PROPERTY" and params[:1] == ["combined"]:
            self.combined = bool(params[1]) if len(params) > 1 else self.combined
        elif method == "GET_PROPERTY" and params[:1] == ["combined"]:
            result = self.combined
        else:
            await self.ws.send_json({"code": 1, "msg": f"Unknown method {method!r}", "id": ident})
            return
        await self.ws.send_json({"result": result, "id": ident})

    def _due(self) -> list[tuple[int, str, dict[str, Any]]]:
        now = self.hub.now_ms()
        due: list[tuple[int, str, dict[str, Any]]] = []
        for name, source in list(self.sources.items()):
            after = self.cursors.get(name, now)
            if source is not None and now > after:
                due.extend((at, name, payload) for at, payload in source.events(after, now))
            self.cursors[name] = max(after, now)
        due.sort(key=lambda item: item[0])
        return due

    async def _send_loop(self) -> None:
        faults = self.hub.faults
        while not self.ws.closed and not self.closing:
            await asyncio.sleep(TICK_SECONDS)
            if (self.hub.now_ms() - self.started_ms) / 1000 >= faults.life_seconds > 0:
                await self.ws.close(code=1001, message=b"connection lifetime reached")
                return
            texts = [
                json.dumps(
                    {"stream": name, "data": payload} if self.combined else payload, separators=(",", ":")
                )
                for _, name, payload in self._due()
            ]
            out: list[str] = []
            for text in texts:
                if out and self.hub.chance(faults.reorder):
                    out.insert(len(out) - 1, text)
                else:
                    out.append(text)
                if self.hub.chance(faults.duplicate):
                    out.append(text)
            for text in out:
                if faults.silence_after and self.sent >= faults.silence_after:
                    continue  # silent: open, reading, sending nothing
                await self.ws.send_str(text)
                self.sent += 1
                self.hub.stats.messages += 1
                if faults.drop_every and self.sent % faults.drop_every == 0:
                    self.abort()
                    return


def add_stream_routes(app: web.Application, hub: StreamHub) -> None:
    """Mount the USDⓈ-M and COIN-M stream hosts on the simulator's application."""
    app.on_startup.append(hub.on_startup)
    app.on_shutdown.append(hub.on_shutdown)
    for market, prefix in STREAM_PREFIXES.items():
        for route in ("market", "public", None):
            base = f"{prefix}/{route}" if route else prefix
            app.router.add_get(f"{base}/ws/{{streams:.*}}", hub.handler(market, route, combined=False))
            app.router.add_get(f"{base}/ws", hub.handler(market, route, combined=False))
            app.router.add_get(f"{base}/stream", hub.handler(market, route, combined=True))
