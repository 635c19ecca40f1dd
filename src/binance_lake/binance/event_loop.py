"""The event loop every online operation runs on: uvloop's when it is installed (the `fast` extra), asyncio's
otherwise.

Why uvloop: a sync of many small archive files spends most of its event-loop time in aiohttp's per-request
work and the socket transports under it. uvloop's transports (libuv, in C) make the `sync` command of 1,200
small files 0.90× as long and 0.88× as costly in CPU (docs/benchmarks.md, issue 12 round 7). Nothing in
binance-lake depends on which loop runs: without uvloop (Windows, or uninstalled) everything works the same,
only slower. Tests and callers that bring their own running loop (Jupyter, pytest-asyncio) keep theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory() -> LoopFactory | None:
    """uvloop's `new_event_loop` when uvloop can be imported; None (asyncio's default loop) otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)` on the loop `loop_factory` picks: a new loop, closed when the coroutine ends."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
