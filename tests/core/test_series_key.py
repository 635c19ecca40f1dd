"""SeriesKey's text form and tuple equality; DaySpan's merge and subtraction against plain sets of days."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.series_key import DaySpan, SeriesKey, merge_spans, uncovered
from binance_lake.core.vocabulary import Interval, Market

D = dt.date
BASE = D(2024, 1, 1)

keys = st.builds(
    SeriesKey,
    st.sampled_from(list(Market)),
    st.sampled_from(["klines", "fundingRate", "aggTrades", "markPriceKlines"]),
    st.one_of(st.none(), st.sampled_from(list(Interval))),
    st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True),
)
spans = st.builds(
    lambda a, n: DaySpan(BASE + dt.timedelta(days=a), BASE + dt.timedelta(days=a + n)),
    st.integers(0, 60),
    st.integers(0, 10),
)


def days_of(items: list[DaySpan]) -> set[dt.date]:
    return {d for s in items for d in s.days()}


@given(keys)
def test_text_form_round_trips(key: SeriesKey) -> None:
    assert SeriesKey.parse(str(key)) == key


def test_text_form_and_path() -> None:
    key = SeriesKey(Market.UM, "klines", Interval("1h"), "BTCUSDT")
    assert str(key) == "um klines 1h BTCUSDT"
    assert key.path == "um/klines/1h/BTCUSDT"
    assert SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT").path == "um/fundingRate/BTCUSDT"


def test_a_key_equals_and_hashes_as_the_plain_tuple_it_replaces() -> None:
    key = SeriesKey(Market.UM, "klines", Interval("1h"), "BTCUSDT")
    assert {key: 1} == {("um", "klines", "1h", "BTCUSDT"): 1}


@pytest.mark.parametrize("text", ["um klines 1h", "xx klines 1h BTCUSDT", "um klines 7q BTCUSDT"])
def test_a_bad_text_form_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        SeriesKey.parse(text)


@given(spans)
def test_a_span_is_its_days(span: DaySpan) -> None:
    days = list(span.days())
    assert len(span) == len(days) and days[0] == span.first and days[-1] == span.last
    assert all(span.contains(d) for d in days)
    assert not span.contains(span.first - dt.timedelta(days=1)) and not span.contains(
        span.last + dt.timedelta(days=1)
    )
    first, last = span
    assert (first, last) == (span.first, span.last)


def test_an_empty_span_is_refused() -> None:
    with pytest.raises(ValueError):
        DaySpan(D(2024, 1, 2), D(2024, 1, 1))


@given(spans, spans)
def test_overlaps_is_a_shared_day(a: DaySpan, b: DaySpan) -> None:
    assert a.overlaps(b) == bool(days_of([a]) & days_of([b]))


@given(st.lists(spans))
def test_merge_is_the_union_of_days_in_disjoint_sorted_spans(items: list[DaySpan]) -> None:
    merged = merge_spans(items)
    assert days_of(merged) == days_of(items)
    for left, right in itertools.pairwise(merged):
        assert left.last + dt.timedelta(days=1) < right.first  # neither overlapping nor adjacent


@given(st.lists(spans), spans)
def test_uncovered_is_the_difference_of_days(items: list[DaySpan], window: DaySpan) -> None:
    gaps = uncovered(window.first, window.last, items)
    assert days_of(gaps) == days_of([window]) - days_of(items)
    assert gaps == merge_spans(gaps)


def test_spans_reaching_the_last_date_do_not_overflow() -> None:
    end = DaySpan(D(9999, 12, 30), dt.date.max)
    assert merge_spans([end, (dt.date.max, dt.date.max)]) == [end]
    assert uncovered(D(9999, 12, 1), dt.date.max, [end]) == [DaySpan(D(9999, 12, 1), D(9999, 12, 29))]
