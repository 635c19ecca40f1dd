"""PostgreSQL's binary COPY format, written from Arrow columns with numpy, no Python object per value.

A staged row is `time`, the table's value columns, the `source` code (export/postgres/tables.py) and the
row's series (its index in the batch's list of symbols). When
every value column is a fixed-width number without nulls (klines, mark price, metrics, funding: the bulk of
an export), a whole batch is one numpy structured array laid out exactly as COPY's binary rows are (field
count, then length and big-endian value per field) and sent as one buffer, which is what makes ≥ 300 k
rows/s possible in Python (docs/benchmarks.md). Anything else (text columns, nulls) returns None and the sink
falls back to psycopg's own row writer.

Format: https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4 — header `PGCOPY\\n\\377\\r\\n\\0`,
flags and extension length (int32 0 each), tuples, trailer int16 -1. timestamptz is int64 microseconds
since 2000-01-01 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
# Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
PG_EPOCH_US = 946_684_800_000_000

_WIDE: dict[str, tuple[str, int]] = {
    "double precision": (">f8", 8),
    "bigint": (">i8", 8),
    "integer": (">i4", 4),
}


def fixed_width(pg_types: Sequence[str]) -> bool:
    """Whether rows of these value types can take the numpy path (given no nulls)."""
    return all(t in _WIDE for t in pg_types)


def encode(
    times_us: npt.NDArray[np.int64],
    values: Sequence[pa.Array[Any]],
    pg_types: Sequence[str],
    sources: npt.NDArray[np.int16],
    series: npt.NDArray[np.int32],
) -> bytes | None:
    """The COPY binary stream of rows (time, *values, source smallint, series integer), or None when a
    value column is not fixed-width or holds a null."""
    if not fixed_width(pg_types) or any(v.null_count for v in values):
        return None
    fields: list[tuple[str, str]] = [("n", ">i2"), ("l_t", ">i4"), ("v_t", ">i8")]
    for i, pg_type in enumerate(pg_types):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _WIDE[pg_type][0])]
    fields += [("l_s", ">i4"), ("v_s", ">i2"), ("l_r", ">i4"), ("v_r", ">i4")]
    rows = np.empty(len(times_us), dtype=np.dtype(fields))
    rows["n"] = len(pg_types) + 3
    rows["l_t"] = 8
    rows["v_t"] = times_us - PG_EPOCH_US
    for i, (pg_type, column) in enumerate(zip(pg_types, values, strict=True)):
        rows[f"l{i}"] = _WIDE[pg_type][1]
        rows[f"v{i}"] = column.to_numpy(zero_copy_only=False)
    rows["l_s"] = 2
    rows["v_s"] = sources
    rows["l_r"] = 4
    rows["v_r"] = series
    return HEADER + rows.tobytes() + TRAILER
