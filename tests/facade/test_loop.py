from __future__ import annotations

import asyncio

from binance_lake.facade.loop import run_sync


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_runs_a_coroutine_from_plain_code() -> None:
    assert run_sync(answer()) == 42


def test_runs_a_coroutine_inside_a_running_loop_like_jupyter() -> None:
    async def notebook_cell() -> int:
        return run_sync(answer())  # a blocking call from inside a loop, as a notebook makes it

    assert asyncio.run(notebook_cell()) == 42
