"""The per-host weight budget: never above its share of the limit, 429 pauses, 418 closes the host."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.binance.rest_weight import WINDOW_SECONDS, WeightBudget, kline_weight


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)  # let the other tasks run, as a real sleep does


def test_kline_weight_follows_the_documented_table() -> None:
    assert [kline_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [1, 1, 2, 2, 5, 5, 10, 10]


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(st.sampled_from([1, 2, 5, 10]), min_size=1, max_size=400))
def test_weight_spent_in_any_minute_never_exceeds_the_budget(weights: list[int]) -> None:
    clock = FakeClock()
    budget = WeightBudget("fapi_url", limit=100, share=0.5, clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []

    async def go() -> None:
        for weight in weights:
            entry = await budget.acquire(weight)
            sent.append((clock.now, weight))
            budget.settle(entry)  # answered at once
            clock.now += 0.01

    asyncio.run(go())
    for at, _ in sent:
        in_window = sum(w for t, w in sent if at - WINDOW_SECONDS + 1e-9 < t <= at)
        assert in_window <= budget.budget == 50


def test_weight_in_flight_never_ages_out_before_its_answer() -> None:
    clock = FakeClock()
    budget = WeightBudget("fapi_url", limit=10, share=1.0, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        first = await budget.acquire(10)
        clock.now += 120  # the answer is slow: the server may have counted it only now
        waiting = asyncio.ensure_future(budget.acquire(1))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        settled_at = clock.now
        budget.settle(first)
        await waiting
        assert clock.now >= settled_at + 60  # a minute after the answer

    asyncio.run(go())


def test_a_reported_weight_of_others_on_the_ip_is_counted() -> None:
    clock = FakeClock()
    budget = WeightBudget("fapi_url", limit=100, share=1.0, clock=clock, sleep=clock.sleep)
    budget.observe(95)  # another process used 95 this minute

    async def go() -> None:
        await budget.acquire(10)

    asyncio.run(go())
    assert clock.now >= WINDOW_SECONDS  # waited until that figure was a minute old


def test_a_429_pauses_the_host_and_a_418_closes_it() -> None:
    clock = FakeClock()
    budget = WeightBudget("fapi_url", clock=clock, sleep=clock.sleep)
    budget.pause(7)

    async def go() -> None:
        await budget.acquire(1)

    asyncio.run(go())
    assert clock.now == 7
    budget.ban(120)
    assert budget.banned and budget.banned_until == 127


def test_the_first_request_goes_alone_until_an_answer_says_what_the_ip_used() -> None:
    clock = FakeClock()
    budget = WeightBudget("fapi_url", limit=100, share=1.0, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        first = await budget.acquire(1)
        second = asyncio.ensure_future(budget.acquire(1))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done()  # held back: the IP's usage is unknown
        budget.observe(95)  # an earlier run used 95 this minute
        budget.settle(first)
        await second
        third = asyncio.ensure_future(budget.acquire(10))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not third.done()  # 95 + 1 + 10 > 100: waits for the reported minute to pass
        await third
        assert clock.now >= 60

    asyncio.run(go())
