"""Retry policy and circuit breaker, with an injected clock and sleep so nothing really waits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.binance.retry import BreakerState, CircuitBreaker, RetryPolicy, retrying
from binance_lake.core.errors import (
    ChecksumMismatch,
    ConnectionFailed,
    IpBanned,
    NotFound,
    RateLimited,
    Restricted,
    ServerError,
)
from tests.binance.fake_archive import FakeTime


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@given(
    attempt=st.integers(1, 40),
    base=st.floats(0.01, 5),
    cap=st.floats(0.1, 120),
    jitter=st.floats(0, 1),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_backoff_is_exponential_capped_and_jittered_downwards(
    attempt: int, base: float, cap: float, jitter: float, draw: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap, jitter=jitter, rand=lambda: draw)
    full = min(cap, base * 2 ** (attempt - 1))
    delay = policy.delay(attempt, ServerError("x"))
    assert full * (1 - jitter) - 1e-9 <= delay <= full + 1e-9
    assert delay == pytest.approx(full * (1 - jitter * draw))


def test_backoff_doubles_without_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=60, jitter=0)
    assert [policy.delay(n, ConnectionFailed("x")) for n in range(1, 10)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]


def test_retry_after_of_a_429_is_honoured_exactly_even_above_the_cap() -> None:
    policy = RetryPolicy(max_delay=1, jitter=0.5)
    assert policy.delay(1, RateLimited("x", retry_after=7)) == 7
    assert policy.delay(3, RateLimited("x", retry_after=120)) == 120
    assert policy.delay(1, RateLimited("x")) <= 0.5


@pytest.mark.parametrize(
    "bad", [{"max_attempts": 0}, {"jitter": 1.5}, {"base_delay": -1}, {"max_rate_limited": -1}]
)
def test_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_transient_errors_are_retried_until_success() -> None:
    time = FakeTime()
    seen: list[tuple[int, str, float]] = []
    fn = Flaky(ServerError("503"), ConnectionFailed("reset"), RateLimited("429", retry_after=3))
    policy = RetryPolicy(base_delay=1, jitter=0)
    result = await retrying(
        fn, policy, sleep=time.sleep, on_retry=lambda n, e, d: seen.append((n, type(e).__name__, d))
    )
    assert result == "ok"
    assert fn.calls == 4
    assert time.sleeps == [1.0, 2.0, 3.0]
    assert seen == [(1, "ServerError", 1.0), (2, "ConnectionFailed", 2.0), (3, "RateLimited", 3.0)]


@pytest.mark.asyncio
async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    time = FakeTime()
    fn = Flaky(*[ServerError(f"503 #{n}") for n in range(10)])
    with pytest.raises(ServerError, match="#2"):
        await retrying(fn, RetryPolicy(max_attempts=3, jitter=0), sleep=time.sleep)
    assert fn.calls == 3
    assert len(time.sleeps) == 2


@pytest.mark.asyncio
async def test_429s_with_retry_after_are_waited_out_without_using_up_attempts() -> None:
    time = FakeTime()
    fn = Flaky(*[RateLimited("429", retry_after=2) for _ in range(7)])
    result = await retrying(fn, RetryPolicy(max_attempts=3, max_rate_limited=7), sleep=time.sleep)
    assert result == "ok"
    assert fn.calls == 8
    assert time.sleeps == [2.0] * 7  # exactly the server's Retry-After, every time


@pytest.mark.asyncio
async def test_429s_beyond_the_spared_ones_count_as_attempts() -> None:
    time = FakeTime()
    fn = Flaky(*[RateLimited(f"429 #{n}", retry_after=1) for n in range(10)])
    with pytest.raises(RateLimited, match="#4"):
        await retrying(fn, RetryPolicy(max_attempts=3, max_rate_limited=2), sleep=time.sleep)
    assert fn.calls == 2 + 3


@pytest.mark.parametrize(
    ("error", "policy"),
    [
        (RateLimited("429 without Retry-After"), RetryPolicy(max_attempts=3, jitter=0)),
        (RateLimited("429", retry_after=1), RetryPolicy(max_attempts=3, max_rate_limited=0)),
    ],
)
@pytest.mark.asyncio
async def test_other_429s_count_as_attempts(error: RateLimited, policy: RetryPolicy) -> None:
    fn = Flaky(*[error] * 10)
    with pytest.raises(RateLimited):
        await retrying(fn, policy, sleep=FakeTime().sleep)
    assert fn.calls == 3


@pytest.mark.asyncio
async def test_a_spared_429_does_not_advance_the_backoff() -> None:
    time = FakeTime()
    seen: list[int] = []
    fn = Flaky(ServerError("503"), RateLimited("429", retry_after=5), ServerError("503"))
    policy = RetryPolicy(base_delay=1, jitter=0)
    assert await retrying(fn, policy, sleep=time.sleep, on_retry=lambda n, e, d: seen.append(n)) == "ok"
    assert time.sleeps == [1.0, 5.0, 2.0]
    assert seen == [1, 2, 3]  # on_retry still numbers every attempt


@pytest.mark.parametrize(
    "error",
    [
        NotFound("404"),
        IpBanned("418", retry_after=120),
        Restricted("451"),
        ChecksumMismatch("bad", expected="a", actual="b"),
        ValueError("a bug"),
    ],
)
@pytest.mark.asyncio
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    time = FakeTime()
    fn = Flaky(error)
    with pytest.raises(type(error)):
        await retrying(fn, RetryPolicy(), sleep=time.sleep)
    assert fn.calls == 1
    assert time.sleeps == []


def test_breaker_opens_at_the_threshold_and_half_opens_after_the_cool_down() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(threshold=3, cool_down=30, clock=time.clock)
    for _ in range(2):
        breaker.record_failure("a")
    assert breaker.state("a") is BreakerState.CLOSED and breaker.wait_time("a") == 0
    breaker.record_failure("a")
    assert breaker.state("a") is BreakerState.OPEN
    assert breaker.wait_time("a") == 30
    assert breaker.wait_time("b") == 0  # hosts are independent
    time.now += 10
    assert breaker.wait_time("a") == 20
    time.now += 20
    assert breaker.wait_time("a") == 0  # this caller is the probe
    assert breaker.state("a") is BreakerState.HALF_OPEN
    assert breaker.wait_time("a") > 0  # others wait for the probe
    breaker.record_failure("a")  # the probe failed: open again for a full cool-down
    assert breaker.state("a") is BreakerState.OPEN and breaker.wait_time("a") == 30
    time.now += 30
    assert breaker.wait_time("a") == 0
    breaker.record_success("a")
    assert breaker.state("a") is BreakerState.CLOSED and breaker.wait_time("a") == 0


def test_a_lost_probe_is_replaced_after_the_cool_down() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(threshold=1, cool_down=5, clock=time.clock)
    breaker.record_failure()
    time.now += 5
    assert breaker.wait_time() == 0
    assert breaker.wait_time() > 0
    time.now += 5
    assert breaker.wait_time() == 0


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(threshold=2, cool_down=5, clock=lambda: 0.0)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state() is BreakerState.CLOSED


@pytest.mark.asyncio
async def test_retrying_with_a_breaker_pauses_instead_of_failing() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(threshold=2, cool_down=30, clock=time.clock)
    fn = Flaky(ServerError("503"), ServerError("503"), ServerError("503"))
    policy = RetryPolicy(max_attempts=5, base_delay=1, jitter=0)
    assert await retrying(fn, policy, sleep=time.sleep, breaker=breaker, host="h") == "ok"
    assert fn.calls == 4
    # Backoff 1 s; 2nd failure at t=1 opens the breaker; backoff 2 s, then the breaker holds the caller for
    # the rest of its 30 s cool-down (28 s). The probe fails and re-opens it: backoff 4 s, then 26 s more.
    assert time.sleeps == [1.0, 2.0, 28.0, 4.0, 26.0]
    assert breaker.state("h") is BreakerState.CLOSED


@pytest.mark.asyncio
async def test_a_404_counts_as_the_host_answering() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(threshold=2, cool_down=30, clock=time.clock)
    breaker.record_failure("h")
    with pytest.raises(NotFound):
        await retrying(Flaky(NotFound("404")), RetryPolicy(), sleep=time.sleep, breaker=breaker, host="h")
    breaker.record_failure("h")
    assert breaker.state("h") is BreakerState.CLOSED
