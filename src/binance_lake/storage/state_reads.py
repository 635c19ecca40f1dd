"""Typed reads of the per-file sync state (`file_state`, written by engine/state.py) for the read side: load/
cannot import engine/, so the questions it asks of that table live here, one function each, beside the
schema that declares it (storage/schema.py).

`schema` names the database the table lives in: "" for the connection's own, `"lake."` for a lake attached
read-only under that alias (load/connection.attached). `None` means the lake has no `file_state` table yet
(nothing synced): the answers are then empty, with the same columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import Connection
from binance_lake.storage.schema import FileStatus

_EMPTY_STATE = (
    '(SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", '
    "NULL::VARCHAR AS symbol, NULL::DATE AS first_day, NULL::DATE AS last_day, NULL::VARCHAR AS status, "
    "NULL::VARCHAR AS key, NULL::INTEGER AS attempts, NULL::VARCHAR AS error, "
    "NULL::TIMESTAMPTZ AS updated_at WHERE false)"
)

# The statuses the queries below compare with, as parameters (the enum is the vocabulary, not literals).
_STATUSES = {
    "ingested": FileStatus.INGESTED.value,
    "failed": FileStatus.FAILED.value,
    "quarantined": FileStatus.QUARANTINED.value,
}


def _state(schema: str | None) -> str:
    return _EMPTY_STATE if schema is None else f"{schema}file_state"


def ingested_symbols(
    connection: Connection,
    market: Market,
    dataset: str,
    interval: str | None,
    first: dt.date,
    last: dt.date,
    *,
    schema: str = "",
) -> set[str]:
    """The symbols of one series with an ingested file touching a day of `first .. last`."""
    rows = connection.execute(
        f"""
        SELECT DISTINCT symbol FROM {schema}file_state
        WHERE status = $ingested AND market = $market AND dataset = $dataset
          AND "interval" IS NOT DISTINCT FROM $interval AND last_day >= $first AND first_day <= $last
        """,
        {
            "market": market.value,
            "dataset": dataset,
            "interval": interval,
            "first": first,
            "last": last,
            "ingested": FileStatus.INGESTED.value,
        },
    ).fetchall()
    return {str(row[0]) for row in rows}


def series_status(connection: Connection, sizes: pa.Table, *, schema: str | None) -> pa.Table:
    """One row per (market, dataset, interval, symbol) of `file_state` or of `sizes` (partition files and bytes
    on disk per series, `load.status.SIZE_SCHEMA`): market, dataset, interval, symbol, days_held, first_day,
    last_day (of the days ingested files cover), files_ingested, files_failed, files_quarantined, partitions,
    bytes. Sorted by the series (interval nulls first)."""
    state = _state(schema)
    connection.register("sizes", sizes)
    try:
        result: pa.Table = connection.sql(
            f"""
            WITH files AS (
                SELECT market, dataset, coalesce("interval", '') AS iv, symbol,
                       count(*) FILTER (status = $ingested) AS files_ingested,
                       count(*) FILTER (status = $failed) AS files_failed,
                       count(*) FILTER (status = $quarantined) AS files_quarantined
                FROM {state} GROUP BY ALL
            ), days AS (
                SELECT DISTINCT market, dataset, coalesce("interval", '') AS iv, symbol,
                       unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS day
                FROM {state} WHERE status = $ingested
            ), held AS (
                SELECT market, dataset, iv, symbol, count(*) AS days_held,
                       min(day) AS first_day, max(day) AS last_day
                FROM days GROUP BY ALL
            )
            SELECT market, dataset, nullif(iv, '') AS "interval", symbol,
                   coalesce(h.days_held, 0) AS days_held, h.first_day, h.last_day,
                   coalesce(f.files_ingested, 0) AS files_ingested,
                   coalesce(f.files_failed, 0) AS files_failed,
                   coalesce(f.files_quarantined, 0) AS files_quarantined,
                   coalesce(s.partitions, 0) AS partitions, coalesce(s.bytes, 0) AS bytes
            FROM files f
            FULL JOIN held h USING (market, dataset, iv, symbol)
            FULL JOIN (SELECT *, coalesce("interval", '') AS iv FROM sizes) s USING (market, dataset, iv, symbol)
            ORDER BY market, dataset, "interval" NULLS FIRST, symbol
            """,
            params=_STATUSES,
        ).to_arrow_table()
    finally:
        connection.unregister("sizes")
    return result


def problem_files(connection: Connection, *, schema: str | None) -> pa.Table:
    """Every file whose last state is failed or quarantined: status, key, market, dataset, interval, symbol,
    first_day, last_day, attempts, error, updated_at; sorted by status and key."""
    params: dict[str, Any] = {k: _STATUSES[k] for k in ("failed", "quarantined")}
    result: pa.Table = connection.sql(
        f"""
        SELECT status, key, market, dataset, "interval", symbol, first_day, last_day, attempts, error, updated_at
        FROM {_state(schema)} WHERE status IN ($failed, $quarantined) ORDER BY status, key
        """,
        params=params,
    ).to_arrow_table()
    return result


def file_table(connection: Connection) -> pa.Table:
    """Every file's last state: key, market, dataset, interval, symbol, cadence, period, first_day, last_day,
    status, etag, size, sha256, checksum, rows, attempts, error, provenance, updated_at."""
    table: pa.Table = connection.sql(
        'SELECT key, market, dataset, "interval", symbol, cadence, period, first_day, last_day, status, etag, '
        'size, sha256, checksum, "rows", attempts, error, provenance, updated_at FROM file_state'
    ).to_arrow_table()
    return table


def sync_runs_table(connection: Connection, *, limit: int = 20) -> pa.Table:
    """The last `limit` sync runs, newest first: run_id, started_at, finished_at, summary (JSON text)."""
    table: pa.Table = connection.sql(
        f"SELECT run_id, started_at, finished_at, summary FROM sync_runs ORDER BY started_at DESC LIMIT {int(limit)}"
    ).to_arrow_table()
    return table
