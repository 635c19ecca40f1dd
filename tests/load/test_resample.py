"""resample: equal to bars built by straightforward Python aggregation, Binance's bucket grid, ms and µs
close times, partial edge buckets, and one-sentence errors."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval
from binance_lake.load.resample import fits, resample, resample_table
from tests.load.lakes import bars

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def bucket_of(t: dt.datetime, target: Interval) -> tuple[dt.datetime, dt.datetime]:
    """Binance's bucket for a bar opening at `t`, computed the plain way."""
    if target is Interval.MO1:
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start, end
    if target is Interval.W1:
        monday = (t - dt.timedelta(days=t.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        return monday, monday + dt.timedelta(weeks=1)
    if target is Interval.D3:
        # The archive's daily 3d files open 2 mod 3 days after the epoch (core.vocabulary).
        days = (t - EPOCH).days
        start = EPOCH + dt.timedelta(days=(days - 2) // 3 * 3 + 2)
        return start, start + dt.timedelta(days=3)
    size = target.duration
    start = EPOCH + ((t - EPOCH) // size) * size
    return start, start + size


def expected(table: pa.Table, target: Interval, *, drop_partial: bool = True) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    tick = rows[0]["close_time"].microsecond % 1000 == 999
    eps = dt.timedelta(microseconds=1) if tick else dt.timedelta(milliseconds=1)
    first_open, last_end = rows[0]["open_time"], rows[-1]["close_time"] + eps
    groups: dict[dt.datetime, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[bucket_of(r["open_time"], target)[0]].append(r)
    out = []
    for start in sorted(groups):
        g = groups[start]
        end = bucket_of(start, target)[1]
        if drop_partial and (start < first_open or end > last_end):
            continue
        out.append(
            {
                "open_time": start,
                "open": g[0]["open"],
                "high": max(r["high"] for r in g),
                "low": min(r["low"] for r in g),
                "close": g[-1]["close"],
                "volume": sum(r["volume"] for r in g),
                "close_time": end - eps,
                "quote_volume": sum(r["quote_volume"] for r in g),
                "count": sum(r["count"] for r in g),
                "taker_buy_volume": sum(r["taker_buy_volume"] for r in g),
                "taker_buy_quote_volume": sum(r["taker_buy_quote_volume"] for r in g),
            }
        )
    return out


def assert_same(actual: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> None:
    assert len(actual) == len(wanted)
    for a, w in zip(actual, wanted, strict=True):
        assert a.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float):
                assert a[key] == pytest.approx(value, rel=1e-12), key
            else:
                assert a[key] == value, key


SOURCES = [
    Interval.M1,
    Interval.M3,
    Interval.M5,
    Interval.M15,
    Interval.H1,
    Interval.H4,
    Interval.H12,
    Interval.D1,
]


@st.composite
def cases(draw: st.DrawFn) -> tuple[pa.Table, Interval, bool]:
    source = draw(st.sampled_from(SOURCES))
    target = draw(st.sampled_from([i for i in Interval if fits(source, i)]))
    span = (
        dt.timedelta(days=62)
        if target is Interval.MO1
        else (target.duration * 3 if not target.is_calendar else dt.timedelta(0))
    )
    count = min(600, max(2, span // source.duration + draw(st.integers(-5, 5))))
    day = draw(st.dates(dt.date(2019, 9, 1), dt.date(2026, 6, 1)))
    offset = draw(st.integers(0, 200)) * source.duration
    start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + offset
    micros = draw(st.booleans())
    return (
        bars(start, count, source, seed=draw(st.integers(0, 99)), micros=micros),
        target,
        draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(cases())
def test_resample_equals_plain_python_aggregation(case: tuple[pa.Table, Interval, bool]) -> None:
    table, target, drop = case
    actual = resample_table(table, target, drop_partial=drop).to_pylist()
    assert_same(actual, expected(table, target, drop_partial=drop))


def test_1m_to_1h_keeps_symbols_apart_and_uses_ms_close_times() -> None:
    start = dt.datetime(2024, 3, 1, tzinfo=UTC)
    a = bars(start, 180, Interval.M1, seed=1).append_column("symbol", pa.array(["AAA"] * 180))
    b = bars(start, 180, Interval.M1, seed=2).append_column("symbol", pa.array(["BBB"] * 180))
    out = resample_table(pa.concat_tables([b, a]), "1h")
    assert out.column_names[0] == "symbol"
    assert out.column("symbol").to_pylist() == ["AAA"] * 3 + ["BBB"] * 3
    assert out.column("close_time").to_pylist()[0] == dt.datetime(2024, 3, 1, 0, 59, 59, 999000, tzinfo=UTC)
    assert_same(
        out.slice(0, 3).drop_columns(["symbol"]).to_pylist(),
        expected(a.drop_columns(["symbol"]), Interval.H1),
    )


def test_microsecond_era_close_times_end_in_999999() -> None:
    out = resample_table(bars(dt.datetime(2025, 1, 1, tzinfo=UTC), 120, Interval.M1, micros=True), "1h")
    assert out.column("close_time").to_pylist()[0] == dt.datetime(2025, 1, 1, 0, 59, 59, 999999, tzinfo=UTC)


def test_weeks_start_on_monday_and_partial_edges_are_dropped() -> None:
    # 2024-01-03 is a Wednesday and the bars end on Tuesday 2024-01-23: both partial weeks are dropped.
    table = bars(dt.datetime(2024, 1, 3, tzinfo=UTC), 24 * 20, Interval.H1)
    weeks = resample_table(table, "1w").column("open_time").to_pylist()
    assert weeks == [dt.datetime(2024, 1, 8, tzinfo=UTC), dt.datetime(2024, 1, 15, tzinfo=UTC)]
    kept = resample_table(table, "1w", drop_partial=False).column("open_time").to_pylist()
    assert kept[0] == dt.datetime(2024, 1, 1, tzinfo=UTC) and len(kept) == 4


def test_frames_keep_their_type() -> None:
    table = bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 120, Interval.M1)
    pandas_out = resample(table.to_pandas(), "1h")
    assert type(pandas_out).__name__ == "DataFrame" and len(pandas_out) == 2
    import polars as pl

    polars_out = resample(pl.from_arrow(table), Interval.H1)
    assert isinstance(polars_out, pl.DataFrame) and polars_out.height == 2


@pytest.mark.parametrize(
    ("table", "interval", "message"),
    [
        (bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 10, Interval.H1), "1m", "cannot resample 1h bars to 1m"),
        (bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 10, Interval.H4), "3h", "unknown interval '3h'"),
        (
            bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 10, Interval.H1).drop_columns(["close"]),
            "4h",
            "missing: close",
        ),
        (bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 0, Interval.H1), "4h", "empty table"),
    ],
)
def test_bad_input_is_one_sentence(table: pa.Table, interval: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resample_table(table, interval)


def test_3d_bars_cannot_make_weeks() -> None:
    with pytest.raises(UsageError, match="cannot resample 3d bars to 1w"):
        resample_table(bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 10, Interval.D3), "1w")


def test_not_a_frame() -> None:
    with pytest.raises(UsageError, match="pandas, polars or Arrow"):
        resample([1, 2, 3], "1h")
