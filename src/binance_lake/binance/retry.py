"""When to try a request again: exponential backoff with jitter, and a per-host circuit breaker.

Pure apart from the injected `sleep` and `clock` (tests pass fakes, so nothing here waits for real).
Only `Transient` errors are retried (`core.errors`): 429, 5xx, dropped connections. A 429's `Retry-After`
is honoured exactly, because retrying sooner is what gets an IP banned (418, reference §4.1); and up to
`max_rate_limited` such answers do not use up `max_attempts`: the server said when to come back, so a burst
of them is waited out instead of ending the run (a listing page that gives up ends a whole sync).

The breaker protects a host that is failing for everyone: after `threshold` consecutive transient
failures it opens, and every caller *pauses* (not fails) until `cool_down` has passed; then it half-opens
and lets one probe request through. The probe's success closes it; its failure opens it again.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from binance_lake.core.errors import IntegrityError, RateLimited, SourceError, is_transient

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]
OnRetry = Callable[[int, BaseException, float], None]
"""Called before each pause with (the attempt that failed, counted from 1; its error; the pause)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and how long to pause between them.

    The pause after attempt n is `min(max_delay, base_delay * 2**(n-1))`, shortened by a random fraction
    of up to `jitter` so that many clients failing together do not come back together. A 429 with
    `Retry-After` pauses exactly that long and, up to `max_rate_limited` times, is not counted in
    `max_attempts` (nor in n).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    jitter: float = 0.5
    max_rate_limited: int = 5
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction in [0, 1]")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays cannot be negative")
        if self.max_rate_limited < 0:
            raise ValueError("max_rate_limited cannot be negative")

    def delay(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait after `attempt` (1-based) failed with `error`."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        backoff = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        return backoff * (1.0 - self.jitter * self.rand())

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        return is_transient(error) and attempt < self.max_attempts

    def spares(self, error: BaseException, spared: int) -> bool:
        """Whether `error` is a 429 with `Retry-After` that need not count as a failed attempt, `spared` such
        answers having been waited out already."""
        return (
            isinstance(error, RateLimited)
            and error.retry_after is not None
            and spared < self.max_rate_limited
        )


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class _Host:
    failures: int = 0
    state: BreakerState = BreakerState.CLOSED
    opened_at: float = 0.0
    probe_started_at: float | None = None


class CircuitBreaker:
    """Pauses every request to a host after `threshold` consecutive transient failures there.

    Hosts are independent (the listing endpoint and the download host fail separately); `host` may be
    any string, "" for a client that talks to one host.
    """

    def __init__(
        self,
        threshold: int = 10,
        cool_down: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.cool_down = cool_down
        self.clock = clock
        self._hosts: dict[str, _Host] = {}

    def _host(self, host: str) -> _Host:
        return self._hosts.setdefault(host, _Host())

    def state(self, host: str = "") -> BreakerState:
        return self._host(host).state

    def wait_time(self, host: str = "") -> float:
        """Seconds a caller must pause before its request may go out; 0 means go now.

        Calling it while the breaker is open and cooled down moves it to half-open and makes this caller
        the probe; other callers pause until the probe reports (or is presumed lost after `cool_down`).
        """
        entry = self._host(host)
        now = self.clock()
        if entry.state is BreakerState.CLOSED:
            return 0.0
        if entry.state is BreakerState.OPEN:
            remaining = entry.opened_at + self.cool_down - now
            if remaining > 0:
                return remaining
            entry.state = BreakerState.HALF_OPEN
            entry.probe_started_at = None
        if entry.probe_started_at is None or now - entry.probe_started_at >= self.cool_down:
            entry.probe_started_at = now
            return 0.0
        # A probe is in flight: look again a little later rather than pile onto a sick host.
        return max(0.0, min(1.0, entry.probe_started_at + self.cool_down - now))

    async def wait(self, host: str = "", *, sleep: Sleep = asyncio.sleep) -> None:
        """Pause until a request to `host` may go out."""
        while (pause := self.wait_time(host)) > 0:
            await sleep(pause)

    def record_success(self, host: str = "") -> None:
        """The host answered (even with a 404): close the breaker."""
        entry = self._host(host)
        entry.failures = 0
        entry.state = BreakerState.CLOSED
        entry.probe_started_at = None

    def record_failure(self, host: str = "") -> None:
        """A transient failure: count it, and open the breaker at the threshold or when a probe failed."""
        entry = self._host(host)
        entry.failures += 1
        if entry.state is BreakerState.HALF_OPEN or entry.failures >= self.threshold:
            entry.state = BreakerState.OPEN
            entry.opened_at = self.clock()
            entry.probe_started_at = None

    def record(self, host: str, error: BaseException | None) -> None:
        """Report an attempt's outcome: None or an answer from the host (404, bad bytes) is a success, a
        transient error a failure; a local error says nothing about the host and just frees the probe slot."""
        if error is None or (isinstance(error, SourceError | IntegrityError) and not is_transient(error)):
            self.record_success(host)
        elif is_transient(error):
            self.record_failure(host)
        else:
            self._host(host).probe_started_at = None


async def retrying(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
    breaker: CircuitBreaker | None = None,
    host: str = "",
) -> T:
    """Call `fn` until it succeeds, retrying `Transient` errors as `policy` says; re-raise the rest.

    With a `breaker`, each attempt first waits for `host`'s breaker and reports its outcome to it.
    """
    failed = 0  # attempts counted against `max_attempts`
    spared = 0  # 429s with Retry-After that were not (`RetryPolicy.spares`)
    while True:
        if breaker is not None:
            await breaker.wait(host, sleep=sleep)
        try:
            result = await fn()
        except Exception as error:
            if breaker is not None:
                breaker.record(host, error)
            if policy.spares(error, spared):
                spared += 1
            else:
                failed += 1
                if not policy.should_retry(failed, error):
                    raise
            pause = policy.delay(max(1, failed), error)
            if on_retry is not None:
                on_retry(failed + spared, error, pause)
            await sleep(pause)
        else:
            if breaker is not None:
                breaker.record(host, None)
            return result
