"""The event loop of online operations: uvloop's when installed, asyncio's otherwise, same results on both."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest

from binance_lake.binance import event_loop
from binance_lake.facade.loop import run_sync

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


async def _fails() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom")


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed: pip install 'binance-lake[fast]'")
def test_runs_on_uvloop_when_it_is_installed() -> None:
    assert event_loop.run(_loop_module()).startswith("uvloop")
    assert run_sync(_loop_module()).startswith("uvloop")


def test_runs_on_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    assert event_loop.loop_factory() is None
    assert event_loop.run(_loop_module()).startswith("asyncio")


def test_errors_propagate_and_each_run_has_a_fresh_closed_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def keep() -> None:
        loops.append(asyncio.get_running_loop())

    event_loop.run(keep())
    event_loop.run(keep())
    assert loops[0] is not loops[1]
    assert all(loop.is_closed() for loop in loops)
    with pytest.raises(ValueError, match="boom"):
        event_loop.run(_fails())


@pytest.mark.asyncio
async def test_run_sync_inside_a_running_loop_uses_a_loop_of_its_own() -> None:
    """Jupyter's case: a loop already runs in this thread, so the coroutine runs on another thread's loop."""
    outer = asyncio.get_running_loop()

    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert run_sync(which()) is not outer
