"""The record of provisional days replaced by the archive: the owner of `rest_reconciliations`.

When the archive publishes a day the lake held from REST or from a stream (`provenance` says which; the
column's name `rest_ref` / `rest_rows` is the provisional side's, kept for old readers), the next update
replaces the provisional rows with the archive's and records one row here per (partition, day): both upstream
references, the rows each side had,
how many rows differed (present on one side only, or with any value different) and which columns differed.
A day that matched exactly is recorded too (`differing_rows` 0), so "reconciled" is never a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.storage.database import Connection
from binance_lake.storage.provenance import series_columns


@dataclass(frozen=True)
class Reconciliation:
    """One provisional day replaced by the archive, and how the two differed."""

    partition: Partition
    day: dt.date
    rest_ref: str
    archive_ref: str
    rest_rows: int
    archive_rows: int
    differing_rows: int
    columns: tuple[str, ...]
    provenance: Provenance = Provenance.REST  # what the archive replaced: rest or stream

    @property
    def path(self) -> str:
        return self.partition.posix


_FIELDS: list[pa.Field[Any]] = [
    pa.field("path", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("market", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("day", pa.date32()),
    pa.field("rest_ref", pa.string()),
    pa.field("archive_ref", pa.string()),
    pa.field("rest_rows", pa.int64()),
    pa.field("archive_rows", pa.int64()),
    pa.field("differing_rows", pa.int64()),
    pa.field("columns", pa.list_(pa.string())),
    pa.field("reconciled_at", pa.timestamp("us", tz="UTC")),
    pa.field("provenance", pa.string()),
]
_SCHEMA = pa.schema(_FIELDS)


def record_reconciliations(
    connection: Connection, records: Iterable[Reconciliation], *, now: dt.datetime | None = None
) -> None:
    """Append these reconciliations (one statement)."""
    when = now or dt.datetime.now(dt.UTC)
    rows = [
        {
            "path": r.path,
            **series_columns(r.partition),
            "day": r.day,
            "rest_ref": r.rest_ref,
            "archive_ref": r.archive_ref,
            "rest_rows": r.rest_rows,
            "archive_rows": r.archive_rows,
            "differing_rows": r.differing_rows,
            "columns": list(r.columns),
            "reconciled_at": when,
            "provenance": r.provenance.value,
        }
        for r in records
    ]
    if not rows:
        return
    batch = pa.Table.from_pylist(rows, schema=_SCHEMA)
    connection.register("rest_reconciliations_batch", batch)
    try:
        connection.execute(
            "INSERT INTO rest_reconciliations BY NAME SELECT * FROM rest_reconciliations_batch"
        )
    finally:
        connection.unregister("rest_reconciliations_batch")


@dataclass(frozen=True)
class RecordedReconciliation:
    path: str
    day: dt.date
    rest_rows: int
    archive_rows: int
    differing_rows: int
    columns: tuple[str, ...]
    provenance: Provenance = Provenance.REST


def reconciliations(
    connection: Connection, paths: Sequence[str] | None = None
) -> list[RecordedReconciliation]:
    """Every recorded reconciliation (of `paths` when given), oldest first."""
    sql = (
        'SELECT path, day, rest_rows, archive_rows, differing_rows, "columns", provenance FROM rest_reconciliations'
        + ("" if paths is None else " WHERE list_contains(?, path)")
        + " ORDER BY reconciled_at, path, day"
    )
    rows = connection.execute(sql, [] if paths is None else [list(paths)]).fetchall()
    return [
        RecordedReconciliation(p, d, int(r), int(a), int(n), tuple(c), Provenance(v or "rest"))
        for p, d, r, a, n, c, v in rows
    ]
