from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.clients import MIN_POOL, open_clients, pool_size
from binance_lake.binance.retry import RetryPolicy
from binance_lake.core.settings import Settings


@given(st.integers(min_value=1, max_value=10_000))
def test_the_pool_fits_every_worker_and_never_shrinks_below_the_floor(concurrency: int) -> None:
    size = pool_size(concurrency)
    assert size >= concurrency and size >= MIN_POOL
    assert size in (concurrency, MIN_POOL)


def test_one_session_carries_both_clients_and_closes_after() -> None:
    settings = Settings(archive_url="http://127.0.0.1:9/archive", stall_timeout=7.0)
    retry = RetryPolicy(max_attempts=2, base_delay=0.2)

    async def go() -> None:
        async with open_clients(settings, concurrency=3, rest_retry=retry) as clients:
            assert clients.archive.session is clients.session and clients.rest.session is clients.session
            assert clients.session.connector is not None and clients.session.connector.limit == MIN_POOL
            assert clients.archive.breaker is not None and clients.archive.stall.timeout == 7.0
            assert clients.archive.archive_url == "http://127.0.0.1:9/archive"
            assert clients.rest.retry is retry
            assert await clients.bounded(asyncio.sleep(0, "done")) == "done"
        assert clients.session.closed

    asyncio.run(go())


def test_each_operation_gets_a_fresh_breaker() -> None:
    async def breakers() -> list[object]:
        found = []
        for _ in range(2):
            async with open_clients(Settings(), concurrency=64) as clients:
                assert clients.session.connector is not None and clients.session.connector.limit == 64
                found.append(clients.archive.breaker)
        return found

    first, second = asyncio.run(breakers())
    assert first is not second
