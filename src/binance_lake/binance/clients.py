"""The clients of one online operation, built from the settings in one place: one HTTP session (the
connection pool every request shares), the archive client on it with a circuit breaker and the stall watch,
and the REST client on the same session.

`Lake.sync`, `catalog.refresh` and `catalog.probe` each open one for their run (`open_clients`) and bound the
whole run by its stall watch (`Clients.bounded`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.binance.http import make_session
from binance_lake.binance.rest_client import RestClient
from binance_lake.binance.retry import CircuitBreaker, RetryPolicy
from binance_lake.core.settings import Settings

T = TypeVar("T")

MIN_POOL = 8
"""The fewest connections a pool gets, whatever the operation's concurrency."""


def pool_size(concurrency: int) -> int:
    """Connections for an operation running `concurrency` requests at a time.

    At least `concurrency`, so no worker waits for a connection (time the stall rule would count as waiting
    for the host). Never fewer than `MIN_POOL`: `concurrency` bounds only the operation's own workers
    (downloads, HEADs), and what runs beside them has its own width — the catalog refresh a sync starts lists
    up to 32 prefixes at a time, and a refresh reads the exchangeInfo of three markets beside its listing
    walk — so `--concurrency 1` must not squeeze those through a single connection."""
    return max(concurrency, MIN_POOL)


@dataclass(frozen=True)
class Clients:
    """One session and the clients on it; valid inside `open_clients` only (the session closes after)."""

    session: aiohttp.ClientSession
    archive: ArchiveClient
    rest: RestClient

    async def bounded(self, work: Awaitable[T]) -> T:
        """Await `work` under the stall rule of the archive client (see `binance.stall`)."""
        return await self.archive.stall.bounded(work)


@asynccontextmanager
async def open_clients(
    settings: Settings, *, concurrency: int, rest_retry: RetryPolicy | None = None
) -> AsyncIterator[Clients]:
    """Open the session (`pool_size(concurrency)` connections) and the clients for `settings`; call it inside
    the running event loop. Each operation gets a fresh circuit breaker: a host that failed an earlier run is
    tried again. `rest_retry` is the REST client's retry policy (default: `RetryPolicy()`)."""
    async with make_session(limit=pool_size(concurrency)) as session:
        archive = ArchiveClient(session, settings, breaker=CircuitBreaker())
        rest = RestClient(session, settings, retry=rest_retry)
        yield Clients(session, archive, rest)
