"""coverage.subtract: the days of a span that held spans do not cover, against a plain set computation."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.load.coverage import subtract
from binance_lake.load.missing import runs

BASE = dt.date(2024, 1, 1)
day = st.integers(0, 60).map(lambda n: BASE + dt.timedelta(days=n))
span = st.tuples(day, day).map(lambda t: (min(t), max(t)))


@given(span, st.lists(span, max_size=8))
def test_subtract_equals_set_difference(
    wanted: tuple[dt.date, dt.date], held: list[tuple[dt.date, dt.date]]
) -> None:
    def days(s: tuple[dt.date, dt.date]) -> set[dt.date]:
        return {s[0] + dt.timedelta(days=i) for i in range((s[1] - s[0]).days + 1)}

    covered = set().union(*(days(h) for h in held)) if held else set()
    assert subtract(wanted, held) == runs(days(wanted) - covered)
