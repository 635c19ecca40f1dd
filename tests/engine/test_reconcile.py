"""The REST-vs-archive comparison of one day: equal days differ in nothing; a changed value, a REST row the
archive lacks, and archive rows REST had not seen yet are told apart."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.engine.reconcile import compare

KEY = ("open_time",)


def _day(closes: list[float], first: int = 0) -> pa.Table:
    return pa.table(
        {
            "open_time": pa.array(range(first, first + len(closes)), pa.int64()),
            "close": pa.array(closes, pa.float64()),
            "volume": pa.array([1.0] * len(closes), pa.float64()),
        }
    )


@settings(deadline=None)  # the first call builds the join; a shared machine is slow
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=0, max_size=50))
def test_a_day_equals_itself(closes: list[float]) -> None:
    assert compare(_day(closes), _day(closes), KEY) == (0, ())


@settings(deadline=None)
@given(
    closes=st.lists(st.floats(min_value=1, max_value=1e6), min_size=2, max_size=50),
    data=st.data(),
)
def test_one_changed_value_is_one_row_in_one_column(closes: list[float], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(closes) - 1))
    changed = list(closes)
    changed[index] += 1.0
    assert compare(_day(changed), _day(closes), KEY) == (1, ("close",))


def test_rest_rows_the_archive_lacks_differ_and_newer_archive_rows_do_not() -> None:
    archive = _day([1.0, 2.0, 3.0, 4.0])
    assert compare(_day([1.0, 2.0]), archive, KEY) == (0, ())  # REST fetched the day while it ran
    assert compare(_day([1.0, 2.0, 3.0, 4.0, 5.0]), archive, KEY) == (1, ())  # a bar the archive never had
