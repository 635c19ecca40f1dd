"""The numpy binary COPY encoder: what it writes decodes (by the format's definition) to the values given,
for any values; anything it cannot write (nulls, text) is left to psycopg's row writer."""

from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.export.postgres.binary import HEADER, PG_EPOCH_US, encode

KINDS = {"double precision": (">d", 8), "bigint": (">q", 8), "integer": (">i", 4)}


def decode(data: bytes, pg_types: list[str]) -> list[tuple[object, ...]]:
    """PostgreSQL's binary COPY format read back, field by field (https://www.postgresql.org/docs/15/sql-copy.html)."""
    assert data.startswith(HEADER)
    at, rows = len(HEADER), []
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            assert at == len(data)
            return rows
        assert fields == len(pg_types) + 3
        values: list[object] = []
        for fmt, width in [(">q", 8), *(KINDS[t] for t in pg_types), (">h", 2), (">i", 4)]:
            (length,) = struct.unpack_from(">i", data, at)
            assert length == width
            (value,) = struct.unpack_from(fmt, data, at + 4)
            values.append(value)
            at += 4 + width
        values[0] = int(values[0]) + PG_EPOCH_US  # type: ignore[call-overload]
        rows.append(tuple(values))


floats = st.floats(allow_nan=True, allow_infinity=True)
int64 = st.integers(-(2**63), 2**63 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)
times = st.integers(-(2**62) + PG_EPOCH_US, 2**62)


@settings(deadline=None)  # a shared 2-core machine: the first example can stall
@given(
    st.lists(
        st.tuples(times, floats, int64, int32, st.integers(0, 4), st.integers(1, 2**31 - 1)), max_size=50
    )
)
def test_round_trip(rows: list[tuple[int, float, int, int, int, int]]) -> None:
    pg_types = ["double precision", "bigint", "integer"]
    columns = list(zip(*rows, strict=True)) or [(), (), (), (), (), ()]
    values = [
        pa.array(columns[1], pa.float64()),
        pa.array(columns[2], pa.int64()),
        pa.array(columns[3], pa.int32()),
    ]
    data = encode(
        np.array(columns[0], np.int64),
        values,
        pg_types,
        np.array(columns[4], np.int16),
        np.array(columns[5], np.int32),
    )
    assert data is not None
    decoded = decode(data, pg_types)
    assert len(decoded) == len(rows)
    for got, want in zip(decoded, rows, strict=True):
        assert got[0] == want[0] and got[2:] == want[2:]
        assert got[1] == want[1] or (math.isnan(want[1]) and math.isnan(got[1]))  # type: ignore[arg-type]


def test_nulls_and_text_take_the_row_writer() -> None:
    times, sources, series = np.array([1, 2], np.int64), np.zeros(2, np.int16), np.ones(2, np.int32)
    assert encode(times, [pa.array([1.0, None])], ["double precision"], sources, series) is None
    assert encode(times, [pa.array(["BUY", "SELL"])], ["text"], sources, series) is None
    assert encode(times, [pa.array([1.0, 2.0])], ["double precision"], sources, series) is not None
