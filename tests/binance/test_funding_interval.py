"""The funding interval REST does not give (core/quirks.py DEFAULT_FUNDING_INTERVAL_HOURS): each record's is
the gap to the next funding time, the newest record's the gap to premiumIndex's `nextFundingTime`, also
right at a funding time when that has moved on before the new record is published."""

from __future__ import annotations

from binance_lake.binance.rest_klines import infer_interval_hours, upcoming_after

H = 3_600_000


def test_the_newest_records_interval_is_the_gap_to_the_next_funding_time() -> None:
    assert infer_interval_hours([0 * H + 5]) == [8]  # nothing to go by: the usual 8
    assert infer_interval_hours([0 * H + 5], next_ms=4 * H) == [4]
    # A switch from 8 h to 4 h: the gap to the previous record would say 8 for the last one.
    assert infer_interval_hours([0, 8 * H + 3, 16 * H + 7], next_ms=20 * H) == [8, 8, 4]
    assert infer_interval_hours([0, 8 * H + 3, 16 * H + 7]) == [8, 8, 8]


def test_right_at_a_funding_time_the_next_one_has_moved_on() -> None:
    last = 8 * H + 10
    # At 12:00:00.000 the 12:00 record is not out yet, and nextFundingTime already says 16:00.
    assert upcoming_after(last, 4 * H + 7, None, 16 * H, 12 * H) == 12 * H
    assert upcoming_after(last, None, 4, 16 * H, 12 * H) == 12 * H
    # Half-way through an 8-hour period the same answer means 8 hours.
    assert upcoming_after(last, 0 + 3, None, 16 * H, 12 * H) == 16 * H
    assert upcoming_after(last, 4 * H + 7, None, 12 * H, 10 * H) == 12 * H
