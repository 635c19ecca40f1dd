"""The owner of `quality_runs`, `quality_findings`, `quality_gaps` and `quality_series` (declared in
storage/schema.py): each check run with its summary, what it found, the gaps it classified and the series it
answered for with the fingerprint of what it read, so `gaps`, `health`, the report and a daemon read the last
run's answers without recomputing them, and the next check carries forward what did not change.

Typed reads below are the only SQL against these tables; the newest run is the one with the latest start.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from binance_lake.core.timerange import DateLike, parse_date
from binance_lake.storage.database import Connection, LakeDatabase

TIMESTAMP = pa.timestamp("us", tz="UTC")

_FINDING_FIELDS: list[pa.Field[Any]] = [
    pa.field("kind", pa.string()),
    pa.field("rule", pa.string()),
    pa.field("severity", pa.string()),
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("day", pa.date32()),
    pa.field("ref", pa.string()),
    pa.field("value", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("message", pa.string()),
    pa.field("repair", pa.string()),
]
FINDINGS_SCHEMA = pa.schema(_FINDING_FIELDS)

_GAP_FIELDS: list[pa.Field[Any]] = [
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("first_day", pa.date32()),
    pa.field("last_day", pa.date32()),
    pa.field("start_time", TIMESTAMP),
    pa.field("end_time", TIMESTAMP),
    pa.field("bars", pa.int64()),
    pa.field("kind", pa.string()),
    pa.field("detail", pa.string()),
]
GAPS_SCHEMA = pa.schema(_GAP_FIELDS)

SERIES_SCHEMA = pa.schema(
    [
        pa.field("market", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("interval", pa.string()),
        pa.field("symbol", pa.string()),
        pa.field("fingerprint", pa.string()),
        pa.field("carried_from", pa.string()),  # the run whose answers were carried, NULL when scanned
    ]
)


def save_run(
    connection: Connection,
    run_id: str,
    *,
    started: dt.datetime,
    finished: dt.datetime,
    request: Mapping[str, Any],
    summary: Mapping[str, Any],
    findings: pa.Table,
    gaps: pa.Table,
    series: pa.Table | None = None,
) -> None:
    """Record one check run with its findings, gaps and answered series (SERIES_SCHEMA; one transaction)."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            "INSERT INTO quality_runs VALUES (?, ?, ?, ?, ?)",
            [run_id, started, finished, json.dumps(request, default=str), json.dumps(summary, default=str)],
        )
        tables = [("quality_findings", findings), ("quality_gaps", gaps)]
        if series is not None:
            tables.append(("quality_series", series.cast(SERIES_SCHEMA)))
        for table, rows in tables:
            if rows.num_rows:
                connection.register("incoming", rows)
                columns = ", ".join(f'"{n}"' for n in rows.schema.names)
                connection.execute(
                    f"INSERT INTO {table} (run_id, {columns}) SELECT ?, {columns} FROM incoming", [run_id]
                )
                connection.unregister("incoming")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def last_run(connection: Connection) -> tuple[str, dt.datetime, dict[str, Any]] | None:
    """The newest check run: (run_id, finished_at, summary), or None when the lake was never checked."""
    row = connection.execute(
        "SELECT run_id, finished_at, summary FROM quality_runs ORDER BY started_at DESC LIMIT 1"
    ).fetchall()
    if not row:
        return None
    return str(row[0][0]), row[0][1], json.loads(row[0][2] or "{}")


def run_findings(connection: Connection, run_id: str) -> pa.Table:
    """The findings of one run, in FINDINGS_SCHEMA's columns."""
    columns = ", ".join(f'"{n}"' for n in FINDINGS_SCHEMA.names)
    table: pa.Table = connection.sql(
        f"SELECT {columns} FROM quality_findings WHERE run_id = $run ORDER BY severity, rule, symbol, day",
        params={"run": run_id},
    ).to_arrow_table()
    return table


def run_gaps(connection: Connection, run_id: str) -> pa.Table:
    """The gaps of one run, in GAPS_SCHEMA's columns."""
    columns = ", ".join(f'"{n}"' for n in GAPS_SCHEMA.names)
    table: pa.Table = connection.sql(
        f"SELECT {columns} FROM quality_gaps WHERE run_id = $run "
        'ORDER BY market, dataset, "interval", symbol, first_day, start_time',
        params={"run": run_id},
    ).to_arrow_table()
    return table


def gaps_of(
    database: LakeDatabase,
    *,
    symbols: Sequence[str] = (),
    start: DateLike | None = None,
    end: DateLike | None = None,
    kinds: Sequence[str] = (),
) -> pa.Table:
    """The last check run's gaps (GAPS_SCHEMA) of `symbols` (all when empty) touching `start .. end`, of
    `kinds` (all when empty). Empty when the lake was never checked."""
    first = parse_date(str(start)[:10]) if start is not None else dt.date.min
    last = parse_date(str(end)[:10]) if end is not None else dt.date.max
    with database.connect(read_only=True) as connection:
        if not _has_runs(connection):
            return GAPS_SCHEMA.empty_table()
        latest = last_run(connection)
        if latest is None:
            return GAPS_SCHEMA.empty_table()
        gaps = run_gaps(connection, latest[0])
    connection = duckdb.connect()
    try:
        connection.register("g", gaps)
        table: pa.Table = connection.sql(
            "SELECT * FROM g WHERE (len($symbols) = 0 OR list_contains($symbols, symbol)) "
            "AND (len($kinds) = 0 OR list_contains($kinds, kind)) AND last_day >= $first AND first_day <= $last",
            params={"symbols": list(symbols), "kinds": list(kinds), "first": first, "last": last},
        ).to_arrow_table()
    finally:
        connection.close()
    return table.cast(GAPS_SCHEMA)


def _has_runs(connection: Connection) -> bool:
    rows = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'quality_runs'"
    ).fetchall()
    return bool(rows and rows[0][0])


_SERIES_MATCH = """
    WITH matched AS (
        SELECT f.market, f.dataset, f."interval", f.symbol, q.run_id
        FROM fp f JOIN quality_series q ON q.market = f.market AND q.dataset = f.dataset
             AND q."interval" IS NOT DISTINCT FROM f."interval" AND q.symbol = f.symbol
             AND q.fingerprint = f.fingerprint
        JOIN quality_runs r USING (run_id)
        QUALIFY row_number() OVER (PARTITION BY f.market, f.dataset, f."interval", f.symbol
                                   ORDER BY r.started_at DESC) = 1
    ), matched_at AS (
        SELECT m.*, r.started_at FROM matched m JOIN quality_runs r USING (run_id)
    )
"""


def carry_forward(
    connection: Connection, fingerprints: pa.Table, rules: Sequence[str]
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """For the series of `fingerprints` (market, dataset, interval, symbol, fingerprint) that an earlier run
    answered with the same fingerprint: (the series with that run's `run_id` and `started_at`, its findings of
    `rules` for them in FINDINGS_SCHEMA, its grid gaps — those with a `start_time` — in GAPS_SCHEMA)."""
    if not _has_table(connection, "quality_series"):
        return (
            pa.table(
                {
                    "market": [],
                    "dataset": [],
                    "interval": [],
                    "symbol": [],
                    "run_id": [],
                    "started_at": pa.array([], TIMESTAMP),
                }
            ),
            FINDINGS_SCHEMA.empty_table(),
            GAPS_SCHEMA.empty_table(),
        )
    connection.register("fp", fingerprints)
    try:
        series: pa.Table = connection.sql(
            f'{_SERIES_MATCH} SELECT market, dataset, "interval", symbol, run_id, started_at FROM matched_at'
        ).to_arrow_table()
        on = 'USING (run_id, market, dataset, symbol) WHERE q."interval" IS NOT DISTINCT FROM m."interval"'
        found = ", ".join(f'q."{n}"' for n in FINDINGS_SCHEMA.names)
        findings: pa.Table = connection.sql(
            f"{_SERIES_MATCH} SELECT {found} FROM quality_findings q JOIN matched m {on} "
            "AND list_contains($rules, q.rule)",
            params={"rules": list(rules)},
        ).to_arrow_table()
        held = ", ".join(f'q."{n}"' for n in GAPS_SCHEMA.names)
        gaps: pa.Table = connection.sql(
            f"{_SERIES_MATCH} SELECT {held} FROM quality_gaps q JOIN matched m {on} AND q.start_time IS NOT NULL"
        ).to_arrow_table()
    finally:
        connection.unregister("fp")
    return series, findings.cast(FINDINGS_SCHEMA), gaps.cast(GAPS_SCHEMA)


def _has_table(connection: Connection, name: str) -> bool:
    rows = connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])
