"""The catalog's tables in the lake's DuckDB database, and applying a listing or probe result to them.

What the archive holds is kept per file (`upstream_files`), with every change of ETag or size kept as a revision
(`file_revisions`) because Binance re-uploads files in place (issue #413, README "Archived files may be
updated"). Keys that are not dataset files are counted in `upstream_other`, never silently dropped.
Changes are applied set-wise in SQL: a refresh that sees no upstream change writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from binance_lake.core.archive import ArchiveFile, ParsedKey

# Re-exported (`as`): the codes moved to core/series.py; old imports from here keep working.
from binance_lake.core.series import SERIES_BY_CODE as SERIES_BY_CODE
from binance_lake.core.series import SERIES_CODE_SPAN as SERIES_CODE_SPAN
from binance_lake.core.series import SERIES_CODES as SERIES_CODES
from binance_lake.core.series import SERIES_FINGERPRINT as SERIES_FINGERPRINT
from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.schema import CATALOG_TABLES, CATALOG_VIEWS, ensure_schema

# The catalog's tables and views are declared in storage/schema.py (the one owner of lake.duckdb's schema).
SCHEMA: tuple[str, ...] = (*CATALOG_TABLES, *CATALOG_VIEWS)

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
    _affected(connection, 'SELECT market, dataset, "interval", symbol, first_day FROM diff WHERE is_touched')
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
        _affected(
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
    _reindex(connection)
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


def _affected(
    connection: Connection, files_sql: str, params: list[object] | None = None, *, append: bool = False
) -> None:
    """Collect the (series, symbol, month) slices whose files changed: the day index is redone for them."""
    head = "INSERT INTO affected" if append else "CREATE OR REPLACE TEMP TABLE affected AS"
    connection.execute(
        f"""
        {head}
        SELECT DISTINCT market, dataset, "interval", symbol, date_trunc('month', first_day)::DATE AS month
        FROM ({files_sql})
        """,
        params or [],
    )


def _reindex(connection: Connection) -> None:
    """Redo the day index for the `affected` slices: one row per day and symbol, from the daily file when
    there is one, else from the monthly file (as snapshots report)."""
    epoch = "DATE '1970-01-01'"
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE affected_codes AS
        SELECT a.*, c.code,
               (a.month - {epoch}) * {SERIES_CODE_SPAN} + c.code AS low,
               (last_day(a.month) - {epoch}) * {SERIES_CODE_SPAN} + c.code AS high
        FROM affected a JOIN series_codes c
          ON c.market = a.market AND c.dataset = a.dataset AND c."interval" IS NOT DISTINCT FROM a."interval"
        """
    )
    connection.execute(
        f"""
        DELETE FROM day_index i USING affected_codes a
        WHERE i.symbol = a.symbol AND i.day_series BETWEEN a.low AND a.high
          AND i.day_series % {SERIES_CODE_SPAN} = a.code
        """
    )
    connection.execute(
        f"""
        INSERT INTO day_index
        SELECT day_series, key, symbol, cadence, size, last_modified FROM (
            SELECT (d - {epoch}) * {SERIES_CODE_SPAN} + f.code AS day_series, f.key, f.symbol, f.cadence, f.size,
                   f.last_modified,
                   row_number() OVER (PARTITION BY day_series, f.symbol ORDER BY f.cadence) AS preference
            FROM (
                SELECT u.*, a.code, unnest(generate_series(u.first_day, u.last_day, INTERVAL 1 DAY))::DATE AS d
                FROM upstream_files u JOIN affected_codes a
                  ON u.market = a.market AND u.dataset = a.dataset AND u."interval" IS NOT DISTINCT FROM a."interval"
                 AND u.symbol = a.symbol AND date_trunc('month', u.first_day) = a.month
                WHERE NOT u.gone
            ) f
        )
        WHERE preference = 1  -- 'daily' sorts before 'monthly'
        ORDER BY day_series, symbol
        """
    )
    connection.execute("DROP TABLE affected")
    connection.execute("DROP TABLE affected_codes")


def index_if_missing(connection: Connection) -> None:
    """Keep `series_codes` equal to the fixed code table (core/series.py); build the day index of a catalog
    written before the index existed.

    Codes are append-only, so a dataset added to the registry only adds rows here and the day index stays as
    it is; only a catalog whose codes contradict the table (never written by a released version) is rebuilt."""
    rows = connection.execute("SELECT value FROM catalog_meta WHERE name = 'series_codes'").fetchall()
    if rows and rows[0][0] == SERIES_FINGERPRINT:
        return
    held = {
        (int(code), (str(market), str(dataset), interval))
        for code, market, dataset, interval in connection.execute(
            'SELECT code, market, dataset, "interval" FROM series_codes'
        ).fetchall()
    }
    wanted = {(code, key) for key, code in SERIES_CODES.items()}
    rebuild = not rows or not held <= wanted
    connection.execute("BEGIN TRANSACTION")
    if not held <= wanted:
        connection.execute("DELETE FROM series_codes")
        held = set()
    connection.executemany(
        "INSERT INTO series_codes VALUES (?, ?, ?, ?)", [(c, *k) for c, k in sorted(wanted - held)]
    )
    connection.execute("COMMIT")
    set_meta(connection, "series_codes", SERIES_FINGERPRINT)
    if rebuild:
        rebuild_day_index(connection)


def rebuild_day_index(connection: Connection) -> None:
    """Build the day index from scratch."""
    connection.execute("BEGIN TRANSACTION")
    connection.execute("DELETE FROM day_index")
    _affected(
        connection, 'SELECT market, dataset, "interval", symbol, first_day FROM upstream_files WHERE NOT gone'
    )
    _reindex(connection)
    connection.execute("COMMIT")


def _prefix_parts(prefix: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(market, cadence, dataset, symbol, interval) named by a listing prefix; None where it names all."""
    parts = prefix.removeprefix("data/").rstrip("/").split("/")
    if parts and parts[0] == "futures":
        parts = [f"{parts[0]}/{parts[1]}", *parts[2:]] if len(parts) > 1 else parts
    market = {m.archive_dir: m.value for m in Market}.get(parts[0]) if parts else None
    rest = [*parts[1:], None, None, None, None][:4]
    cadence, dataset, symbol, interval = rest
    return market, cadence, dataset, symbol, interval


def record_listed(
    connection: Connection, listed: list[tuple[str, dt.date | None, dt.date | None]], *, now: dt.datetime
) -> None:
    """Remember the directories and day ranges a refresh listed completely (only ones not already known)."""
    rows = []
    for prefix, first, last in listed:
        covered = connection.execute(
            """
            SELECT count(*) FROM listed_ranges
            WHERE starts_with(?, prefix) AND (first_day IS NULL OR first_day <= coalesce(?, DATE '0001-01-01'))
              AND (last_day IS NULL OR last_day >= coalesce(?, DATE '9999-12-31'))
            """,
            [prefix, first, last],
        ).fetchall()[0][0]
        if not covered:
            rows.append((prefix, *_prefix_parts(prefix), first, last, now))
    if rows:
        connection.executemany("INSERT INTO listed_ranges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def set_meta(connection: Connection, name: str, value: str) -> None:
    """Record a catalog-wide fact (e.g. the archive URL the keys belong to); writes only on change."""
    # fetchall, not fetchone: DuckDB 2 refuses further work while a result is only partly fetched.
    rows = connection.execute("SELECT value FROM catalog_meta WHERE name = ?", [name]).fetchall()
    if rows and rows[0][0] == value:
        return
    connection.execute("DELETE FROM catalog_meta WHERE name = ?", [name])
    connection.execute("INSERT INTO catalog_meta VALUES (?, ?)", [name, value])


_EXCHANGE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("market", pa.string()),
    ("symbol", pa.string()),
    ("pair", pa.string()),
    ("status", pa.string()),
    ("contract_type", pa.string()),
    ("onboard_date", pa.date32()),
    ("delivery_date", pa.date32()),
    ("base_asset", pa.string()),
    ("quote_asset", pa.string()),
]
EXCHANGE_SCHEMA = pa.schema(_EXCHANGE_FIELDS)


def apply_exchange_symbols(
    connection: Connection, market: str, symbols: pa.Table, *, now: dt.datetime
) -> int:
    """Replace one market's exchangeInfo symbols (`EXCHANGE_SCHEMA` rows); returns how many rows differ.

    Nothing is written when the exchange says what it said last time (the fetch time alone is no change).
    """
    columns = ", ".join(EXCHANGE_SCHEMA.names)
    connection.register("fetched_symbols", symbols)
    try:
        rows = connection.execute(
            f"""
            SELECT count(*) FROM (
                (SELECT {columns} FROM fetched_symbols
                 EXCEPT ALL SELECT {columns} FROM exchange_symbols WHERE market = ?)
                UNION ALL
                (SELECT {columns} FROM exchange_symbols WHERE market = ?
                 EXCEPT ALL SELECT {columns} FROM fetched_symbols)
            )
            """,
            [market, market],
        ).fetchall()
        differing = int(rows[0][0]) if rows else 0
        if differing:
            connection.execute("BEGIN TRANSACTION")
            connection.execute("DELETE FROM exchange_symbols WHERE market = ?", [market])
            connection.execute(
                f"INSERT INTO exchange_symbols SELECT {columns}, ? FROM fetched_symbols", [now]
            )
            connection.execute("COMMIT")
        return differing
    finally:
        connection.unregister("fetched_symbols")


def ensure_catalog(database: LakeDatabase) -> None:
    """Bring the lake's schema up to date (every table, storage/schema.py) and the series codes in step with
    the code table (once a process). The one open step of every writer."""
    ensure_schema(database, then=index_if_missing)
