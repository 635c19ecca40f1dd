"""Applying a listing or probe result to the catalog: the set-wise SQL diff of what was seen against
`upstream_files`, with revisions, gone and revived files.

What the archive holds is kept per file (`upstream_files`), with every change of ETag or size kept as a revision
(`file_revisions`) because Binance re-uploads files in place (issue #413, README "Archived files may be
updated"). Keys that are not dataset files are counted in `upstream_other`, never silently dropped.
Changes are applied set-wise in SQL: a refresh that sees no upstream change writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from binance_lake.catalog.day_index import collect_affected, reindex_affected
from binance_lake.core.archive import ArchiveFile, ParsedKey
from binance_lake.storage.database import Connection

_LISTED_FIELDS: list[tuple[str, pa.DataType]] = [
    ("key", pa.string()),
    ("market", pa.string()),
    ("dataset", pa.string()),
    ("symbol", pa.string()),
    ("interval", pa.string()),
    ("cadence", pa.string()),
    ("period", pa.date32()),
    ("first_day", pa.date32()),
    ("last_day", pa.date32()),
    ("size", pa.int64()),
    ("etag", pa.string()),
    ("last_modified", pa.timestamp("us", tz="UTC")),
    ("checksum_size", pa.int64()),
    ("canonical", pa.bool_()),
]
LISTED_SCHEMA = pa.schema(_LISTED_FIELDS)


# A key range that was listed completely: (prefix, after, upto); None bounds mean the whole prefix.
Scope = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class SeenFile:
    """A dataset file as a listing or a HEAD probe reported it."""

    parsed: ParsedKey
    size: int
    etag: str
    last_modified: dt.datetime
    checksum_size: int | None = None

    @property
    def file(self) -> ArchiveFile:
        return self.parsed.file


@dataclass(frozen=True)
class CatalogChanges:
    """What one refresh or probe changed in the catalog."""

    new: int = 0
    changed: int = 0
    gone: int = 0
    revived: int = 0
    unchanged: int = 0
    other_new: int = 0

    @property
    def total(self) -> int:
        return self.new + self.changed + self.gone + self.revived + self.other_new


def seen_table(files: list[SeenFile]) -> pa.Table:
    """Arrow table of seen files in `LISTED_SCHEMA`, for set-wise application in DuckDB."""
    columns: dict[str, list[object]] = {name: [] for name in LISTED_SCHEMA.names}
    for seen in files:
        f = seen.file
        values: tuple[object, ...] = (
            seen.parsed.zip_key,
            f.market.value,
            f.dataset,
            f.symbol,
            f.interval.value if f.interval is not None else None,
            f.cadence.value,
            f.period,
            f.first_day,
            f.last_day,
            seen.size,
            seen.etag,
            seen.last_modified,
            seen.checksum_size,
            seen.parsed.canonical,
        )
        for name, value in zip(LISTED_SCHEMA.names, values, strict=True):
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=LISTED_SCHEMA)


def _count(connection: Connection, sql: str, *params: object) -> int:
    rows = connection.execute(sql, list(params)).fetchall()
    return int(rows[0][0]) if rows else 0


def apply_seen(
    connection: Connection,
    seen: pa.Table,
    *,
    now: dt.datetime,
    scope: list[Scope] | None,
    other: list[tuple[str, str]] | None = None,
) -> CatalogChanges:
    """Apply what was seen upstream to the catalog, in one transaction.

    `scope` lists what was listed completely, as (prefix, after, upto) key ranges (None bounds: the whole
    prefix): a catalog row in one of them that was not seen is marked gone. Probes pass None (a HEAD that
    finds nothing proves nothing about other keys). Nothing is written when nothing changed.
    """
    connection.register("seen_files", seen)
    try:
        return _apply(connection, now=now, scope=scope, other=other or [])
    finally:
        connection.unregister("seen_files")


# The difference between what was seen and the catalog, with one flag per kind of change.
_DIFF = """
    CREATE OR REPLACE TEMP TABLE diff AS
    WITH joined AS (
        SELECT s.*, u.key IS NULL AS is_new, coalesce(u.gone, false) AS was_gone,
               u.size AS old_size, u.etag AS old_etag, u.last_modified AS old_last_modified,
               u.checksum_size AS old_checksum_size
        FROM seen_files s LEFT JOIN upstream_files u USING (key)
    ), flagged AS (
        SELECT *, NOT is_new AND (old_size IS DISTINCT FROM size OR old_etag IS DISTINCT FROM etag) AS is_changed
        FROM joined
    )
    SELECT *, NOT is_new AND was_gone AND NOT is_changed AS is_revived,
           is_new OR was_gone OR is_changed
             OR (checksum_size IS NOT NULL AND checksum_size IS DISTINCT FROM old_checksum_size) AS is_touched
    FROM flagged
"""


def _gone_condition(scope: list[Scope]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for prefix, after, upto in scope:
        clause = "starts_with(u.key, ?)"
        params.append(prefix)
        if after is not None:
            clause += " AND u.key > ?"
            params.append(after)
        if upto is not None:
            clause += " AND u.key <= ?"
            params.append(upto)
        clauses.append(f"({clause})")
    return (
        f"NOT u.gone AND ({' OR '.join(clauses)}) AND NOT EXISTS (SELECT 1 FROM seen_files s WHERE s.key = u.key)",
        params,
    )


def _apply(
    connection: Connection,
    *,
    now: dt.datetime,
    scope: list[Scope] | None,
    other: list[tuple[str, str]],
) -> CatalogChanges:
    connection.execute(_DIFF)
    row = connection.execute(
        "SELECT count(*) FILTER (is_new), count(*) FILTER (is_changed), count(*) FILTER (is_revived), "
        "count(*) FILTER (is_touched), count(*) FROM diff"
    ).fetchall()
    new, changed, revived, touched, total_seen = (int(v) for v in row[0]) if row else (0, 0, 0, 0, 0)
    gone = 0
    gone_sql, gone_params = "", list[object]()
    if scope:
        gone_sql, gone_params = _gone_condition(scope)
        gone = _count(connection, f"SELECT count(*) FROM upstream_files u WHERE {gone_sql}", *gone_params)
    known_other = {row[0] for row in connection.execute("SELECT key FROM upstream_other").fetchall()}
    new_other = sorted({(k, r) for k, r in other if k not in known_other})
    if touched == 0 and gone == 0 and not new_other:
        connection.execute("DROP TABLE diff")
        return CatalogChanges(unchanged=total_seen)
    connection.execute("BEGIN TRANSACTION")
    collect_affected(
        connection, 'SELECT market, dataset, "interval", symbol, first_day FROM diff WHERE is_touched'
    )
    connection.execute(
        """
        INSERT INTO file_revisions
        SELECT key, ?, CASE WHEN is_changed THEN 'changed' ELSE 'revived' END,
               old_size, old_etag, old_last_modified, size, etag, last_modified
        FROM diff WHERE is_changed OR is_revived
        """,
        [now],
    )
    connection.execute(
        """
        UPDATE upstream_files AS u SET size = d.size, etag = d.etag, last_modified = d.last_modified,
            checksum_size = coalesce(d.checksum_size, u.checksum_size), gone = false, last_seen = ?
        FROM diff d WHERE u.key = d.key AND NOT d.is_new AND d.is_touched
        """,
        [now],
    )
    connection.execute(
        """
        INSERT INTO upstream_files
        SELECT key, market, dataset, symbol, "interval", cadence, period, first_day, last_day, size, etag,
               last_modified, checksum_size, canonical, ?, ?, false
        FROM diff WHERE is_new ORDER BY key
        """,
        [now, now],
    )
    if gone:
        collect_affected(
            connection,
            f'SELECT u.market, u.dataset, u."interval", u.symbol, u.first_day FROM upstream_files u WHERE {gone_sql}',
            gone_params,
            append=True,
        )
        connection.execute(
            f"""
            INSERT INTO file_revisions
            SELECT u.key, ?, 'gone', u.size, u.etag, u.last_modified, NULL, NULL, NULL
            FROM upstream_files u WHERE {gone_sql}
            """,
            [now, *gone_params],
        )
        connection.execute(
            f"UPDATE upstream_files AS u SET gone = true, last_seen = ? WHERE {gone_sql}", [now, *gone_params]
        )
    if new_other:
        connection.executemany(
            "INSERT INTO upstream_other VALUES (?, ?, ?)", [(k, r, now) for k, r in new_other]
        )
    reindex_affected(connection)
    connection.execute("COMMIT")
    connection.execute("DROP TABLE diff")
    return CatalogChanges(
        new=new,
        changed=changed,
        gone=gone,
        revived=revived,
        unchanged=total_seen - touched,
        other_new=len(new_other),
    )
