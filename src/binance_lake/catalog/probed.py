"""What each probe answered (`probe_results`): the status code and time of seed 002's availability row.

A probe HEADs the daily files expected of the active series; each key keeps its last answer: 200 (found) or
404 (missing). A 404 proves only that the file was not there when asked (it may be uploaded late, issue #150),
so it never marks anything gone and never hides a file: `daily_availability` shows a day as available (200)
whenever a listed or probed file covers it, and 404 only otherwise. Written by `catalog/probe.py`; the table is
declared in storage/schema.py (migration 5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa

from binance_lake.core.archive import ArchiveFile
from binance_lake.storage.database import Connection

FOUND, MISSING = 200, 404

RESULT_SCHEMA = pa.schema(
    [pa.field(name, pa.string()) for name in ("key", "market", "dataset", "interval", "symbol")]
    + [pa.field("day", pa.date32()), pa.field("status_code", pa.int16())]
)


def record_probed(
    connection: Connection, found: Iterable[ArchiveFile], missing: Iterable[ArchiveFile], now: dt.datetime
) -> int:
    """Record each probed daily file's answer at `now` (a key asked again keeps only its newest answer);
    returns how many were recorded."""
    rows = [(f, FOUND) for f in found] + [(f, MISSING) for f in missing]
    table = pa.Table.from_pylist(
        [
            {
                "key": f.key,
                "market": f.market.value,
                "dataset": f.dataset,
                "interval": f.interval.value if f.interval else None,
                "symbol": f.symbol,
                "day": f.first_day,
                "status_code": code,
            }
            for f, code in rows
        ],
        schema=RESULT_SCHEMA,
    )
    if table.num_rows == 0:
        return 0
    connection.register("_probe_results_in", table)
    try:
        connection.execute(
            "INSERT OR REPLACE INTO probe_results BY NAME SELECT *, ? AS probed_at FROM _probe_results_in",
            [now],
        )
    finally:
        connection.unregister("_probe_results_in")
    return table.num_rows
