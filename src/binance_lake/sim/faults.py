"""Scriptable faults for the simulator, applied as aiohttp middleware to every route, and request stats.

A spec is clauses separated by `;`, each a comma-separated list of `kind=value` with an optional
`@glob` URL pattern (matched against path and query):

    5xx=0.05,reset=0.02,truncate=0.02,stall=0.01,corrupt=0.01,429=0.02@*/klines/*; first=2@*BTCUSDT-1h-2024-01*

Rates are per request. `first=N` fails the first N requests to each matching URL with a 503, so tests can
be exact. `stall_seconds=S` (default 30) and `retry_after=S` (default 1) tune stalls and 429s. Every
decision is deterministic: the N-th request to a URL gets the same fate for the same seed.

`corrupt` is damage in transit: it flips different bytes on each request, so a fresh download of the same
object gives different (wrong) bytes. `corrupt_permanent=R` is an object damaged for good: a share R of
the URLs, chosen once, are served with the same flipped bytes on every request, so they never match their
`.CHECKSUM`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.sim.market_model import unit_hash

RATE_KINDS = ("5xx", "429", "reset", "truncate", "stall", "corrupt", "corrupt_permanent")
PERMANENT_KINDS = frozenset({"corrupt_permanent"})
"""Kinds decided once per URL, not per request: the object itself is damaged."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class FaultClause:
    pattern: str = "*"
    rates: tuple[tuple[str, float], ...] = ()
    first: int = 0

    def matches(self, url: str) -> bool:
        return fnmatch.fnmatchcase(url, self.pattern)


@dataclass(frozen=True)
class FaultPlan:
    clauses: tuple[FaultClause, ...] = ()
    seed: int = 7
    stall_seconds: float = 30.0
    retry_after: int = 1

    @property
    def empty(self) -> bool:
        return not self.clauses

    def decide(self, url: str, n: int) -> str | None:
        """The fault for the `n`-th (0-based) request to `url`, or None."""
        for clause in self.clauses:
            if not clause.matches(url):
                continue
            if n < clause.first:
                return "5xx"
            for kind, rate in clause.rates:
                nth = -1 if kind in PERMANENT_KINDS else n
                if unit_hash(self.seed, "fault", kind, url, nth) < rate:
                    return kind
        return None


def _parse_item(item: str) -> tuple[str, float]:
    kind, sep, value = item.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or number != number or number < 0:
        raise UsageError(f"bad fault {item!r}; expected kind=number, e.g. 5xx=0.05 or first=2")
    return kind.strip().lower(), number


def parse_faults(spec: str | None, *, seed: int = 7) -> FaultPlan:
    """Parse a fault spec; a malformed one is a usage error naming the bad part."""
    if not spec or not spec.strip():
        return FaultPlan(seed=seed)
    clauses: list[FaultClause] = []
    stall, retry_after = 30.0, 1
    for raw in spec.split(";"):
        text = raw.strip()
        if not text:
            continue
        body, _, pattern = text.partition("@")
        rates: list[tuple[str, float]] = []
        first = 0
        for item in split_list(body):
            kind, number = _parse_item(item)
            if kind == "first":
                first = int(number)
            elif kind == "stall_seconds":
                stall = number
            elif kind == "retry_after":
                retry_after = int(number)
            elif kind in RATE_KINDS:
                if number > 1:
                    raise UsageError(f"fault rate {item!r} must be between 0 and 1")
                rates.append((kind, number))
            else:
                raise UsageError(f"unknown fault {kind!r}; expected one of: {', '.join(RATE_KINDS)}, first")
        if rates or first:
            clauses.append(FaultClause(pattern.strip() or "*", tuple(rates), first))
    return FaultPlan(tuple(clauses), seed, stall, retry_after)


@dataclass
class Stats:
    """What the server did, per route: tests and benchmarks read it. Thread-safe."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes_served: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    per_url: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, route: str, url: str) -> int:
        """Record a request; returns how many requests this URL had before it."""
        with self._lock:
            self.requests[route] += 1
            before = self.per_url[url]
            self.per_url[url] += 1
            return before

    def served(self, route: str, size: int) -> None:
        with self._lock:
            self.bytes_served[route] += size

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_served.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_served.clear()
            self.faults.clear()
            self.per_url.clear()


def route_name(path: str) -> str:
    for prefix, name in (
        ("/sim-fapi", "rest:fapi"),
        ("/sim-dapi", "rest:dapi"),
        ("/sim-spot", "rest:spot"),
        ("/sim-fstream", "stream"),
        ("/__sim__", "admin"),
    ):
        if path.startswith(prefix):
            return name
    if path.rstrip("/") == "/data.binance.vision":
        return "listing"
    return "archive"


def _corrupt(body: bytes, seed: int, url: str, n: int = -1) -> bytes:
    """Flip a few bytes, same length: where depends on the URL and, unless `n` is -1 (permanent damage), on
    the request's number, so each attempt is damaged differently."""
    data = bytearray(body)
    for i in range(min(4, len(data))):
        position = int(unit_hash(seed, "corrupt", url, n, i) * len(data))
        data[position] ^= 0xFF
    return bytes(data)


def fault_middleware(plan: FaultPlan, stats: Stats) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        url = request.path_qs
        route = route_name(request.path)
        n = stats.count(route, f"{request.method} {url}")
        kind = None if route == "admin" or plan.empty else plan.decide(url, n)
        if kind is not None:
            stats.fault(kind)
        if kind == "5xx":
            status = 500 if unit_hash(plan.seed, "status", url, n) < 0.5 else 503
            return web.Response(status=status, text="simulated server error\n")
        if kind == "429":
            headers = {"Retry-After": str(plan.retry_after)}
            return web.Response(status=429, headers=headers, text="simulated rate limit\n")
        if kind == "stall":
            await asyncio.sleep(plan.stall_seconds)
        response = await handler(request)
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
            return response
        body = response.body
        if kind == "corrupt" and body:
            response.body = _corrupt(body, plan.seed, url, n)
        elif kind == "corrupt_permanent" and body:
            response.body = _corrupt(body, plan.seed, url)
        elif kind in ("truncate", "reset") and body and request.method != "HEAD":
            return await _cut(request, response, body, abort=kind == "reset")
        stats.served(route, len(body) if request.method != "HEAD" else 0)
        return response

    return middleware


class _CutResponse(web.StreamResponse):
    """Sends the headers with the full Content-Length, then part of the body, then drops the connection."""

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def _cut(
    request: web.Request, original: web.Response, body: bytes, *, abort: bool
) -> web.StreamResponse:
    response = _CutResponse(status=original.status, headers=original.headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        if abort:
            transport.abort()
        else:
            transport.close()
    return response
