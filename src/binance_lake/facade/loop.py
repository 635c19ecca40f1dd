"""Synchronous methods over the async core: each runs its coroutine on a private event loop, so the API also
works inside Jupyter, whose loop is already running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from binance_lake.binance import event_loop
from binance_lake.binance.clients import Clients, open_clients
from binance_lake.binance.retry import RetryPolicy
from binance_lake.core.settings import Settings

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code (on `binance.event_loop`'s loop), even when a loop is
    already running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return event_loop.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(event_loop.run, coroutine).result()


def run_online(
    settings: Settings,
    work: Callable[[Clients], Awaitable[T]],
    *,
    concurrency: int,
    rest_retry: RetryPolicy | None = None,
) -> T:
    """Open the clients for `settings` (`binance.clients.open_clients`), run `work` with them under the stall
    rule, and close them: one online operation, from synchronous code."""

    async def go() -> T:
        async with open_clients(settings, concurrency=concurrency, rest_retry=rest_retry) as clients:
            return await clients.bounded(work(clients))

    return run_sync(go())
