"""`status`: what the lake holds, per dataset and symbol, and which files failed or are quarantined.

Coverage comes from the state database (`file_state`: the days each ingested archive file covers); sizes come
from the partition files on disk. A file that failed or was quarantined is never silently skipped: it is
counted here per series and listed by `problems`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR, parse_partition_path
from binance_lake.load.connection import attached, cursor, tables_of
from binance_lake.storage.schema import FileStatus

_SIZE_FIELDS: list[pa.Field[Any]] = [
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("partitions", pa.int64()),
    pa.field("bytes", pa.int64()),
]
SIZE_SCHEMA = pa.schema(_SIZE_FIELDS)


def disk_sizes(root: Path) -> pa.Table:
    """Partition files and bytes per series, from a walk of `tables/` (files that are not partitions ignored)."""
    totals: dict[tuple[str, str, str | None, str], list[int]] = {}
    tables = root / TABLES_DIR
    for path in tables.rglob("*.parquet") if tables.is_dir() else ():
        try:
            partition = parse_partition_path(path.relative_to(root).as_posix())
        except UsageError:
            continue
        interval = partition.interval.value if partition.interval is not None else None
        entry = totals.setdefault(
            (partition.market.value, partition.dataset, interval, partition.symbol), [0, 0]
        )
        entry[0] += 1
        entry[1] += path.stat().st_size
    rows = [
        {"market": m, "dataset": d, "interval": i, "symbol": s, "partitions": n, "bytes": b}
        for (m, d, i, s), (n, b) in sorted(totals.items(), key=lambda item: str(item[0]))
    ]
    return pa.Table.from_pylist(rows, schema=SIZE_SCHEMA)


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


def status(root: Path) -> pa.Table:
    """One row per (market, dataset, interval, symbol): days held, first and last day held, ingested /
    failed / quarantined file counts, partition files and bytes on disk. Sorted by those keys."""
    sizes = disk_sizes(root)
    with cursor() as handle, attached(handle, root) as alias:
        state = (
            f"{alias}.file_state"
            if alias is not None and "file_state" in tables_of(handle, alias)
            else _EMPTY_STATE
        )
        handle.register("sizes", sizes)
        try:
            result: pa.Table = handle.sql(
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
            handle.unregister("sizes")
    return result


def problems(root: Path) -> pa.Table:
    """Every file whose last state is failed or quarantined, with its attempts and error."""
    with cursor() as handle, attached(handle, root) as alias:
        state = (
            f"{alias}.file_state"
            if alias is not None and "file_state" in tables_of(handle, alias)
            else _EMPTY_STATE
        )
        result: pa.Table = handle.sql(
            f"""
            SELECT status, key, market, dataset, "interval", symbol, first_day, last_day, attempts, error, updated_at
            FROM {state} WHERE status IN ($failed, $quarantined) ORDER BY status, key
            """,
            params={k: _STATUSES[k] for k in ("failed", "quarantined")},
        ).to_arrow_table()
    return result
