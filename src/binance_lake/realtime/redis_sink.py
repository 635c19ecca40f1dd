"""Latest values per symbol in Redis (optional extra `redis`): one hash per symbol, updated per event.

Key `binance-lake:<market>:<SYMBOL>` (e.g. `binance-lake:um:BTCUSDT`), a hash whose fields are JSON values:

| field | from | value |
|---|---|---|
| `price`, `price_time` | aggTrade `p`/`T` (or a kline's close `c`/`E`) | Binance's decimal text as a JSON string, epoch ms |
| `mark`, `index`, `settle`, `funding_rate`, `next_funding_time`, `mark_time` | markPrice `p`, `i`, `P`, `r`, `T`, `E` | strings as sent (`r` is `""` for delivery contracts), epoch ms |
| `liquidation` | forceOrder `o` + `E` | the whole order object as JSON |
| `updated` | any | event time of the latest update, epoch ms |

Every hash gets `EXPIRE ttl` with each update, so a symbol that stops trading disappears. Updates are pipelined:
the sink keeps only the latest value of each field until its writer task sends them in one pipeline (MULTI-less,
`transaction=False`). When Redis is unreachable the collector keeps running, the sink says so once, holds the
latest values (bounded by symbols × fields) and writes them when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.realtime.events import StreamEvent

PREFIX = "binance-lake"


def redis_key(market: str, symbol: str) -> str:
    return f"{PREFIX}:{market}:{symbol}"


def fields_of(event: StreamEvent) -> dict[str, str]:
    """The hash fields an event sets, JSON-encoded."""
    d = event.data
    out: dict[str, Any]
    if event.kind == "aggTrade":
        out = {"price": d["p"], "price_time": d["T"]}
    elif event.kind == "kline":
        out = {"price": d["k"]["c"], "price_time": d["E"]}
    elif event.kind == "markPrice":
        out = {
            "mark": d["p"], "index": d.get("i"), "settle": d.get("P"), "funding_rate": d.get("r"),
            "next_funding_time": d.get("T"), "mark_time": d["E"],
        }  # fmt: skip
    else:
        out = {"liquidation": {**d["o"], "E": d["E"]}}
    out["updated"] = event.event_time
    return {name: json.dumps(value, separators=(",", ":")) for name, value in out.items()}


class RedisSink:
    """Pipelines the latest values to Redis; survives Redis going away."""

    def __init__(
        self,
        url: str,
        market: str,
        *,
        ttl_seconds: float,
        log: Callable[[dict[str, object]], None],
        retry_seconds: float = 1.0,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise UsageError("--redis needs the redis package: pip install 'binance-lake[redis]'") from None
        self._client = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.url = url
        self.market = market
        self.ttl = max(int(ttl_seconds), 1)
        self.log = log
        self.retry_seconds = retry_seconds
        self._pending: dict[str, dict[str, str]] = {}
        self._times: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.up = True
        self.writes = 0
        self.failures = 0
        self.latencies_ms: list[float] = []

    @property
    def state(self) -> str:
        return "up" if self.up else "DOWN (holding latest values)"

    def offer(self, event: StreamEvent) -> None:
        key = redis_key(self.market, event.symbol)
        self._pending.setdefault(key, {}).update(fields_of(event))
        self._times[key] = event.event_time
        self._wake.set()

    async def _write(self, pending: dict[str, dict[str, str]], times: dict[str, int]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key, mapping in pending.items():
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl)
        await pipe.execute()
        now_ms = time.time() * 1000
        self.latencies_ms.extend(now_ms - t for t in times.values())
        if len(self.latencies_ms) > 100_000:
            del self.latencies_ms[:50_000]
        self.writes += len(pending)

    async def run(self, stop: asyncio.Event) -> None:
        from redis.exceptions import RedisError

        while True:
            if not self._pending:
                if stop.is_set():
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                except TimeoutError:
                    continue
            pending, self._pending = self._pending, {}
            times, self._times = self._times, {}
            try:
                await self._write(pending, times)
                if not self.up:
                    self.up = True
                    self.log({"event": "redis_back", "url": self.url, "written": len(pending)})
            except asyncio.CancelledError:
                self._keep(pending, times)  # the final drain writes them
                raise
            except (RedisError, OSError) as error:
                self.failures += 1
                self._keep(pending, times)
                if self.up:
                    self.up = False
                    self.log({"event": "redis_down", "url": self.url, "reason": str(error)[:200]})
                if stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)

    def _keep(self, pending: dict[str, dict[str, str]], times: dict[str, int]) -> None:
        """Put values that were not written back, under any newer ones that arrived meanwhile."""
        for key, mapping in pending.items():
            self._pending[key] = {**mapping, **self._pending.get(key, {})}
            self._times.setdefault(key, times[key])

    async def drain(self, attempts: int = 3) -> None:
        """Write what events arrived after the writer task stopped (the last ones of a run): a few attempts,
        since a write cancelled at the stop can leave the client's connection to be reopened first."""
        from redis.exceptions import RedisError

        for attempt in range(attempts):
            if not self._pending:
                return
            pending, self._pending = self._pending, {}
            times, self._times = self._times, {}
            try:
                await self._write(pending, times)
                return
            except (RedisError, OSError) as error:
                self.failures += 1
                self._keep(pending, times)
                if attempt == attempts - 1:
                    self.log({"event": "redis_down", "url": self.url, "reason": str(error)[:200]})
                else:
                    await asyncio.sleep(self.retry_seconds / 4)

    async def close(self) -> None:
        await self._client.aclose()
