"""The series codes are a contract with every lake on disk: the day index is keyed by them, so the codes a
released version assigned never change, and every series the registry allows has one."""

from __future__ import annotations

import hashlib

from binance_lake.core.datasets import datasets_for
from binance_lake.core.series import SERIES_BY_CODE, SERIES_CODE_SPAN, SERIES_CODES
from binance_lake.core.vocabulary import Market, intervals_for

# The codes 1..154 as every lake written before the code table existed holds them (the registry's enumeration
# at main f804d62). A change here renumbers the day index of every lake: append new series instead.
PINNED_COUNT = 154
PINNED = "9aec114d4f08b361"
PINNED_SAMPLES = {
    1: ("spot", "klines", "1s"),
    17: ("spot", "aggTrades", None),
    19: ("um", "klines", "1m"),
    79: ("um", "fundingRate", None),
    85: ("um", "liquidationSnapshot", None),
    86: ("cm", "klines", "1m"),
    153: ("option", "BVOLIndex", None),
    154: ("option", "EOHSummary", None),
}


def _fingerprint(upto: int) -> str:
    items = sorted(((k, c) for k, c in SERIES_CODES.items() if c <= upto), key=lambda kv: kv[1])
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def test_the_codes_released_lakes_hold_never_change() -> None:
    assert _fingerprint(PINNED_COUNT) == PINNED
    for code, key in PINNED_SAMPLES.items():
        assert SERIES_BY_CODE[code] == key


def test_every_series_the_registry_allows_has_a_code() -> None:
    for market in Market:
        for spec in datasets_for(market):
            intervals = [i.value for i in intervals_for(market)] if spec.has_interval else [None]
            for interval in intervals:
                assert (market.value, spec.name, interval) in SERIES_CODES, (
                    f"{market.value}/{spec.name}/{interval} has no series code: append it to core/series.py"
                )


def test_codes_are_dense_unique_and_fit_the_day_index() -> None:
    assert sorted(SERIES_CODES.values()) == list(range(1, len(SERIES_CODES) + 1))
    assert len(SERIES_BY_CODE) == len(SERIES_CODES)
    assert max(SERIES_CODES.values()) < SERIES_CODE_SPAN
