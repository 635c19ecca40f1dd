"""One WebSocket connection of a stream run, kept alive: connect, subscribe within the rate limit, receive,
replace it when it goes silent or grows old, back off with jitter when it fails.

A connection opens the routed combined entry point (`<base>/market/stream`), then names its streams (at most
`max_streams`, Binance's 200) in SUBSCRIBE messages of `subscribe_batch` streams, `subscribe_rate` a second
(Binance disconnects above 10 incoming messages a second). aiohttp answers the server's pings with pongs
(`autoping`). The silence watchdog replaces a connection that receives nothing for `silence_timeout`; a
connection older than `max_age` is replaced before Binance's 24 h cut. Failures wait
`min(backoff_max, backoff_initial * 2**n)` scaled by a random factor in [0.5, 1) (jitter: many connections do
not retry in step); a connection that subscribed resets `n`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from binance_lake.core import quirks
from binance_lake.realtime.request import StreamOptions

Clock = Callable[[], float]


@dataclass
class ConnectionState:
    """What the live view shows about one connection."""

    index: int
    streams: list[str]
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    last_reason: str = ""
    messages: int = 0
    last_message: float = 0.0
    opened_at: float = 0.0
    history: list[str] = field(default_factory=list)


def backoff_delay(attempt: int, options: StreamOptions, rng: random.Random) -> float:
    base = float(min(options.backoff_max, options.backoff_initial * 2**attempt))
    return base * (0.5 + rng.random() / 2)


class StreamConnection:
    """Keeps one connection's streams flowing until `stop` is set."""

    def __init__(
        self,
        state: ConnectionState,
        base_url: str,
        session: aiohttp.ClientSession,
        options: StreamOptions,
        *,
        on_text: Callable[[str], None],
        on_connecting: Callable[[ConnectionState], None],
        on_subscribed: Callable[[ConnectionState], Awaitable[None]],
        log: Callable[[dict[str, object]], None],
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.state = state
        self.url = f"{base_url.rstrip('/')}/{quirks.WS_MARKET_ROUTE}/stream"
        self.session = session
        self.options = options
        self.on_text = on_text
        self.on_connecting = on_connecting
        self.on_subscribed = on_subscribed
        self.log = log
        self.clock = clock
        self.rng = rng or random.Random()
        self._acks: set[int] = set()
        self._acked = asyncio.Event()
        self._next_id = 1

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            planned = False
            subscribed = False
            try:
                self.on_connecting(self.state)
                async with self.session.ws_connect(
                    self.url, autoping=True, heartbeat=None, max_msg_size=0
                ) as ws:
                    self.state.connected = True
                    self.state.connects += 1
                    self.state.opened_at = self.state.last_message = self.clock()
                    self.log(
                        {
                            "event": "connected",
                            "connection": self.state.index,
                            "streams": len(self.state.streams),
                        }
                    )
                    subscriber = asyncio.create_task(self._subscribe(ws))
                    try:
                        reason = await self._receive(ws, stop)
                    finally:
                        subscribed = (
                            subscriber.done()
                            and not subscriber.cancelled()
                            and subscriber.exception() is None
                        )
                        subscriber.cancel()
                    planned = reason == "planned"
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                reason = f"{type(error).__name__}: {error}".strip(": ")
            self.state.connected = False
            if stop.is_set():
                break
            self.state.reconnects += 1
            self.state.last_reason = reason
            self.log({"event": "disconnected", "connection": self.state.index, "reason": reason})
            if subscribed:
                attempt = 0
            if not planned:
                delay = backoff_delay(attempt, self.options, self.rng)
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        streams = self.state.streams
        batch = self.options.subscribe_batch
        self._acks.clear()
        self._acked.clear()
        pending: set[int] = set()
        for k in range(0, len(streams), batch):
            if k:
                await asyncio.sleep(1 / self.options.subscribe_rate)
            ident = self._next_id
            self._next_id += 1
            pending.add(ident)
            await ws.send_str(
                json.dumps({"method": "SUBSCRIBE", "params": streams[k : k + batch], "id": ident})
            )
        while not pending <= self._acks:
            self._acked.clear()
            await self._acked.wait()
        await self.on_subscribed(self.state)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> str:
        options = self.options
        while not stop.is_set():
            age = self.clock() - self.state.opened_at
            if age >= options.max_age:
                await ws.close()
                return "planned"
            silent_for = self.clock() - self.state.last_message
            timeout = max(min(options.silence_timeout - silent_for, options.max_age - age, 0.5), 0.01)
            try:
                message = await ws.receive(timeout=timeout)
            except TimeoutError:
                if self.clock() - self.state.last_message >= options.silence_timeout:
                    await ws.close()
                    return f"silent for {options.silence_timeout:g} s (watchdog)"
                continue
            if message.type is aiohttp.WSMsgType.TEXT:
                self.state.messages += 1
                self.state.last_message = self.clock()
                text = str(message.data)
                if text.startswith('{"result"') or text.startswith('{"code"'):
                    self._ack(text)
                    continue
                self.on_text(text)
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                extra = f" ({message.extra})" if message.extra else ""
                return f"closed by the server, code {ws.close_code}{extra}"
            elif message.type is aiohttp.WSMsgType.ERROR:
                return f"connection error: {ws.exception()}"
        await ws.close()
        return "stopped"

    def _ack(self, text: str) -> None:
        try:
            answer = json.loads(text)
        except ValueError:
            return
        if "code" in answer:
            self.log({"event": "refused", "connection": self.state.index, "answer": answer})
        ident = answer.get("id")
        if isinstance(ident, int):
            self._acks.add(ident)
            self._acked.set()
