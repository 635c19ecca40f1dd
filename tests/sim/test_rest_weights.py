"""Weight accounting of the simulated REST hosts: kline weights, the rolling minute, 429, 418 bans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.sim.rest_weights import (
    WEIGHT_WINDOW_SECONDS,
    Bucket,
    Outcome,
    RestLimits,
    WeightLedger,
    kline_weight,
)


def test_kline_weight_table_boundaries() -> None:
    # reference §0 row 16: [1,100)->1, [100,500)->2, [500,1000]->5, >1000->10
    assert [kline_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [1, 1, 2, 2, 5, 5, 10, 10]


@given(st.integers(min_value=1, max_value=1499))
def test_kline_weight_is_monotonic(limit: int) -> None:
    assert kline_weight(limit) <= kline_weight(limit + 1)


@given(st.lists(st.integers(min_value=0, max_value=10), max_size=40))
def test_used_weight_is_the_sum_of_accepted_weights_within_a_minute(weights: list[int]) -> None:
    ledger = WeightLedger(10_000, RestLimits())
    total = 0
    for i, w in enumerate(weights):
        verdict = ledger.charge("1.2.3.4", w, now=float(i))
        total += w
        assert verdict.outcome is Outcome.ACCEPTED
        assert verdict.used_weight == total
    assert ledger.used("1.2.3.4", now=len(weights) + WEIGHT_WINDOW_SECONDS) == 0


def test_weight_ages_out_after_the_window() -> None:
    ledger = WeightLedger(100, RestLimits())
    ledger.charge("ip", 5, now=0.0)
    ledger.charge("ip", 7, now=30.0)
    assert ledger.used("ip", now=59.9) == 12
    assert ledger.used("ip", now=60.0) == 7
    assert ledger.used("ip", now=90.0) == 0


def test_over_the_limit_is_429_with_the_wait_until_weight_frees() -> None:
    ledger = WeightLedger(10, RestLimits())
    for t in range(10):
        assert ledger.charge("ip", 1, now=float(t)).outcome is Outcome.ACCEPTED
    verdict = ledger.charge("ip", 1, now=10.5)
    assert verdict.outcome is Outcome.LIMITED
    assert verdict.used_weight == 10
    # the first unit (spent at t=0) leaves the window at t=60
    assert verdict.retry_after == 50
    assert ledger.charge("ip", 1, now=60.0).outcome is Outcome.ACCEPTED


def test_continued_requests_while_limited_are_banned_and_bans_grow() -> None:
    limits = RestLimits(ban_after=2, ban_seconds=120.0)
    ledger = WeightLedger(1, limits)
    ledger.charge("ip", 1, now=0.0)
    assert ledger.charge("ip", 1, now=1.0).outcome is Outcome.LIMITED
    assert ledger.charge("ip", 1, now=2.0).outcome is Outcome.LIMITED
    ban = ledger.charge("ip", 1, now=3.0)
    assert ban.outcome is Outcome.BANNED
    assert ban.retry_after == 120
    during = ledger.charge("ip", 0, now=100.0)
    assert during.outcome is Outcome.BANNED and during.retry_after == 23
    assert ledger.charge("ip", 1, now=123.0).outcome is Outcome.ACCEPTED
    # a repeat offender gets twice the ban
    for t in (124.0, 125.0):
        assert ledger.charge("ip", 1, now=t).outcome is Outcome.LIMITED
    assert ledger.charge("ip", 1, now=126.0).retry_after == 240


def test_ips_are_accounted_separately() -> None:
    ledger = WeightLedger(1, RestLimits())
    assert ledger.charge("a", 1, now=0.0).outcome is Outcome.ACCEPTED
    assert ledger.charge("b", 1, now=0.0).outcome is Outcome.ACCEPTED
    assert ledger.charge("a", 1, now=0.0).outcome is Outcome.LIMITED


def test_named_bucket_limits_request_count_even_at_weight_zero() -> None:
    ledger = WeightLedger(2400, RestLimits(funding_bucket=Bucket(2, 300.0)))
    assert ledger.charge("ip", 0, now=0.0, bucket="funding").outcome is Outcome.ACCEPTED
    assert ledger.charge("ip", 0, now=1.0, bucket="funding").outcome is Outcome.ACCEPTED
    limited = ledger.charge("ip", 0, now=2.0, bucket="funding")
    assert limited.outcome is Outcome.LIMITED and limited.retry_after == 298
    assert ledger.charge("ip", 0, now=2.0, bucket="futures_data").outcome is Outcome.ACCEPTED
    assert ledger.charge("ip", 0, now=300.0, bucket="funding").outcome is Outcome.ACCEPTED
