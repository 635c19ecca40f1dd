"""The stall rule: a run gives up when requests are waiting and nothing has come back for `stall_timeout`
seconds, across the whole run.

Progress is any byte received or any request answered (any HTTP status: a server answering 503 is alive,
and the retry policy bounds those). It is not a per-request timeout, so a slow but alive server never trips
it, and time with no request outstanding (ingesting, writing the catalog) never counts. What it ends is the
case nothing else bounds: a server that died or hangs while the circuit breaker keeps pausing every caller.

Built on `asyncio.timeout`, whose deadline is moved on every sign of life: on expiry it cancels the guarded
task (so in-flight work can record its state on the way out) and `guard` turns that into `Stalled`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from binance_lake.core.errors import Stalled

T = TypeVar("T")


class StallWatch:
    """Tracks outstanding requests and the last sign of life; `guard()` enforces the timeout.

    Call `begin(host)` / `end(host)` around every request (retries and breaker pauses included) and `alive()`
    on every answer and every chunk of body. Only the event loop's thread may call these.
    """

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("stall timeout must be positive")
        self.timeout = timeout
        self._waiting: Counter[str] = Counter()
        self._deadline: asyncio.Timeout | None = None
        self._last_host = ""
        self._stalled_on: str | None = None

    @property
    def waiting(self) -> int:
        return sum(self._waiting.values())

    def begin(self, host: str) -> None:
        if not self.waiting:
            self._arm()  # the clock starts when someone starts waiting
        self._waiting[host] += 1
        self._last_host = host

    def end(self, host: str) -> None:
        if self._stalled_on is None and self._deadline is not None and self._deadline.expired():
            self._stalled_on = self.host()  # before the cancelled requests stop waiting
        self._waiting[host] -= 1
        if self._waiting[host] <= 0:
            del self._waiting[host]
        if not self.waiting:
            self._set(None)

    def alive(self) -> None:
        if self.waiting:
            self._arm()

    def host(self) -> str:
        """The host most requests are waiting on (the one to name when giving up)."""
        if self._waiting:
            return self._waiting.most_common(1)[0][0]
        return self._last_host or "the server"

    def _arm(self) -> None:
        self._set(asyncio.get_running_loop().time() + self.timeout)

    def _set(self, when: float | None) -> None:
        deadline = self._deadline
        # After expiry the guarded task is being cancelled; moving the deadline then is not allowed.
        if deadline is not None and not deadline.expired():
            deadline.reschedule(when)

    async def bounded(self, work: Awaitable[T]) -> T:
        """Await `work` under `guard()`."""
        async with self.guard():
            return await work

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block under the stall rule; raises `Stalled` naming the host when it trips. Re-entrant:
        an inner guard of the same watch is the outer one."""
        if self._deadline is not None:
            yield
            return
        deadline = asyncio.timeout(None)
        self._stalled_on = None
        try:
            async with deadline:
                self._deadline = deadline
                if self.waiting:
                    self._arm()
                yield
        except Exception:
            # The expiry arrives as TimeoutError, or as whatever the cancelled block raised instead.
            if deadline.expired():
                raise Stalled(self._stalled_on or self.host(), self.timeout) from None
            raise
        finally:
            self._deadline = None
