"""`Lake.load(source="rest")`'s plan (pure): days the lake lacks are stored, days it holds from the archive
only served, its REST days neither; never past the last closed bar; a dataset REST does not serve refused."""

from __future__ import annotations

import datetime as dt

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import UTC, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.rest_range import plan_rest_range

H1 = SeriesKey(Market.UM, "klines", Interval.H1, "BTCUSDT")
D = dt.date(2026, 11, 10)


def _ms(day: int, hour: int = 0) -> int:
    return to_millis(dt.datetime(2026, 11, day, hour, tzinfo=UTC))


def test_missing_days_are_stored_archive_days_served_rest_days_read() -> None:
    held = {H1: {D: Provenance.ARCHIVE_DAILY, D + dt.timedelta(days=1): Provenance.REST}}
    plan = plan_rest_range(
        [H1],
        held,
        start_ms=_ms(9, 6),
        end_ms=_ms(13),
        now_ms=_ms(
            12,
            12,
        ),
    )
    assert [(w.start_ms, w.end_ms) for w in plan.serve] == [(_ms(10), _ms(11) - 1)]
    # 11-09 from 06:00, and 11-12 up to the last closed bar (11:00 at 12:00), never the open one.
    assert [(w.start_ms, w.end_ms) for w in plan.store] == [(_ms(9, 6), _ms(10) - 1), (_ms(12), _ms(12, 11))]


def test_a_dataset_rest_does_not_serve_is_one_sentence() -> None:
    trades = SeriesKey(Market.UM, "trades", None, "BTCUSDT")
    with pytest.raises(UsageError, match="not served by REST"):
        plan_rest_range([trades], {}, start_ms=_ms(9), end_ms=_ms(10), now_ms=_ms(12))
