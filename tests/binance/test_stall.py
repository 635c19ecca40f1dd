"""The stall rule: requests outstanding and no sign of life for `timeout` seconds ends the guarded block
with `Stalled` naming the host; a slow but alive server, or time with nothing outstanding, never trips it."""

from __future__ import annotations

import asyncio
import time

import pytest

from binance_lake.binance.stall import StallWatch
from binance_lake.core.errors import BinanceLakeError, Stalled, is_transient


async def _waiting_forever(watch: StallWatch, host: str) -> None:
    watch.begin(host)
    try:
        await asyncio.Event().wait()
    finally:
        watch.end(host)


@pytest.mark.asyncio
async def test_requests_with_no_answer_trip_it_naming_the_host() -> None:
    watch = StallWatch(0.2)
    started = time.monotonic()
    with pytest.raises(Stalled) as caught:
        await watch.bounded(_waiting_forever(watch, "127.0.0.1:8123"))
    assert 0.2 <= time.monotonic() - started < 1.0
    assert caught.value.host == "127.0.0.1:8123" and isinstance(caught.value, BinanceLakeError)
    assert not is_transient(caught.value)  # it ends the run; nothing retries it
    assert str(caught.value) == (
        "gave up: no answer from 127.0.0.1:8123 for 0.2 s (set stall_timeout / --stall-timeout); "
        "state is recorded, run the same command again to resume"
    )


@pytest.mark.asyncio
async def test_a_slow_but_alive_server_never_trips_it() -> None:
    watch = StallWatch(0.2)

    async def slow_transfer() -> str:
        watch.begin("h:1")
        try:
            for _ in range(10):  # 0.5 s in all, never 0.2 s without a byte
                await asyncio.sleep(0.05)
                watch.alive()
        finally:
            watch.end("h:1")
        return "done"

    assert await watch.bounded(slow_transfer()) == "done"


@pytest.mark.asyncio
async def test_time_with_nothing_outstanding_does_not_count() -> None:
    watch = StallWatch(0.2)

    async def local_work_then_a_quick_request() -> int:
        await asyncio.sleep(0.4)  # ingesting, writing the catalog: nobody waits on the network
        watch.begin("h:1")
        await asyncio.sleep(0.05)
        watch.end("h:1")
        await asyncio.sleep(0.3)
        return 1

    assert await watch.bounded(local_work_then_a_quick_request()) == 1


@pytest.mark.asyncio
async def test_the_cancelled_block_can_record_its_state_and_other_errors_pass_through() -> None:
    watch = StallWatch(0.1)
    recorded: list[str] = []

    async def records_on_the_way_out() -> None:
        try:
            await _waiting_forever(watch, "h:2")
        except asyncio.CancelledError:
            recorded.append("failed")
            raise

    with pytest.raises(Stalled, match="h:2"):
        await watch.bounded(records_on_the_way_out())
    assert recorded == ["failed"]

    async def boom() -> None:
        raise ValueError("not a stall")

    with pytest.raises(ValueError, match="not a stall"):
        await watch.bounded(boom())
    with pytest.raises(ValueError):
        StallWatch(0)
