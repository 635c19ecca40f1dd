"""The one owner of `lake.duckdb`'s schema: every table, view and index, its version, and the ordered
migrations that bring a lake written by an older binance-lake up to this one.

A lake records the migrations applied to it in `schema_migrations` (one row each); its version is the highest.
A lake written before versions existed has no such table and counts as version 0: migration 1 is the schema as
main wrote it then (every statement idempotent, so whatever subset of tables such a lake holds is completed),
and each later change is one numbered migration appended to `MIGRATIONS`, never edited once released.
Each migration runs in one transaction together with its `schema_migrations` row (DuckDB's DDL is
transactional), so a crash or an error midway leaves the lake at the previous version, readable and untouched.
A lake whose version is newer than this code knows is refused with one sentence (`SchemaTooNew`): its tables
may mean things this version does not know.

Writers bring the lake up to date once per process (`ensure_schema`); read-only readers cannot migrate, and
read a lake from `READABLE_FROM` up to `SCHEMA_VERSION` as it is (`check_readable`). The stages own what they
write into these tables; the declarations live here so that one place says what `lake.duckdb` is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import duckdb

from binance_lake.core.datasets import DATASETS, Granularity
from binance_lake.core.errors import SchemaTooNew, StorageError
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.job_runs import JOB_RUNS


class FileStatus(StrEnum):
    """The `status` of a `file_state` row. SQL compares against these values as parameters, never literals."""

    PLANNED = "planned"
    DOWNLOADED = "downloaded"  # bytes on disk, checksum verified
    INGESTED = "ingested"  # rows are in the lake's partitions
    FAILED = "failed"  # gave up for this run (transient errors exhausted); planned again next time
    QUARANTINED = "quarantined"  # the same bytes failed verification twice: skipped until upstream changes
    # (or `sync --retry-quarantined`)
    SUPERSEDED = "superseded"  # a daily file whose days a monthly file now holds


# --- catalog (written by catalog/store.py): what the archive holds ---------------------------------------
CATALOG_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS upstream_files (
        key VARCHAR NOT NULL,
        market VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        "interval" VARCHAR,
        cadence VARCHAR NOT NULL,
        period DATE NOT NULL,
        first_day DATE NOT NULL,
        last_day DATE NOT NULL,
        size BIGINT,
        etag VARCHAR,
        last_modified TIMESTAMPTZ,
        checksum_size BIGINT,
        canonical BOOLEAN NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL,
        gone BOOLEAN NOT NULL DEFAULT false
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS file_revisions (
        key VARCHAR NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL,
        change VARCHAR NOT NULL,
        old_size BIGINT,
        old_etag VARCHAR,
        old_last_modified TIMESTAMPTZ,
        new_size BIGINT,
        new_etag VARCHAR,
        new_last_modified TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS upstream_other (
        key VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS exchange_symbols (
        market VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        pair VARCHAR,
        status VARCHAR,
        contract_type VARCHAR,
        onboard_date DATE,
        delivery_date DATE,
        base_asset VARCHAR,
        quote_asset VARCHAR,
        fetched_at TIMESTAMPTZ NOT NULL
    )
    """,
    # The day index answers snapshots: one row per file and day it covers, keyed by
    # day_series = days since 1970-01-01 * 4096 + the series code of (market, dataset, interval). Rows are
    # appended in key order, so DuckDB's per-row-group min/max skips everything but the asked day.
    """
    CREATE TABLE IF NOT EXISTS series_codes (
        code INTEGER NOT NULL,
        market VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        "interval" VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS day_index (
        day_series BIGINT NOT NULL,
        key VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        cadence VARCHAR NOT NULL,
        size BIGINT,
        last_modified TIMESTAMPTZ
    )
    """,
    # What was listed completely, so a reader can tell "listed and absent" from "never looked": one row per
    # listed directory (prefix) and day range (NULL bounds: the whole directory's history).
    """
    CREATE TABLE IF NOT EXISTS listed_ranges (
        prefix VARCHAR NOT NULL,
        market VARCHAR,
        cadence VARCHAR,
        dataset VARCHAR,
        symbol VARCHAR,
        "interval" VARCHAR,
        first_day DATE,
        last_day DATE,
        listed_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS catalog_meta (
        name VARCHAR NOT NULL,
        value VARCHAR NOT NULL
    )
    """,
)

CATALOG_VIEWS: tuple[str, ...] = (
    # Per-dataset life span of every symbol, from the files the archive holds. Sums are cast back to BIGINT:
    # DuckDB sums BIGINT into HUGEINT, which reaches Arrow as decimal128 and JSON output as a string.
    """
    CREATE OR REPLACE VIEW symbol_datasets AS
    SELECT market, symbol, dataset, min(first_day) AS first_day, max(last_day) AS last_day,
           count(*) AS files, sum(size)::BIGINT AS bytes
    FROM upstream_files WHERE NOT gone
    GROUP BY market, symbol, dataset
    """,
    # One row per symbol and market. A symbol counts as delisted when the exchange says it is not trading, or,
    # without exchange information, when the archive stopped publishing it more than 7 days before the newest
    # day the archive holds for that market. `complete`: a directory of the symbol's files was listed over its
    # whole history, so first_day and last_day are the archive's; otherwise they are only what the listings saw (a
    # sync lists its own days), and the archive's silence proves nothing: delisted is then NULL, unknown,
    # unless the exchange said.
    """
    CREATE OR REPLACE VIEW symbols AS
    WITH spans AS (
        SELECT market, symbol, min(first_day) AS first_day, max(last_day) AS last_day,
               count(*) AS files, sum(size)::BIGINT AS bytes
        FROM upstream_files WHERE NOT gone GROUP BY market, symbol
    ), newest AS (
        SELECT market, max(last_day) AS newest_day FROM upstream_files WHERE NOT gone GROUP BY market
    ), series AS (
        SELECT DISTINCT market, dataset, "interval", symbol FROM upstream_files WHERE NOT gone
    ), whole AS (
        SELECT DISTINCT x.market, x.symbol FROM series x JOIN listed_ranges l
          ON l.first_day IS NULL AND l.last_day IS NULL AND (l.market IS NULL OR l.market = x.market)
         AND (l.dataset IS NULL OR l.dataset = x.dataset) AND (l.symbol IS NULL OR l.symbol = x.symbol)
         AND (l."interval" IS NULL OR l."interval" = x."interval")
    )
    SELECT s.market, s.symbol, s.first_day, s.last_day, s.files, s.bytes,
           CASE WHEN e.status IS NOT NULL THEN e.status NOT IN ('TRADING', 'PENDING_TRADING')
                WHEN w.symbol IS NOT NULL THEN s.last_day < coalesce(n.newest_day, s.last_day) - INTERVAL 7 DAY
           END AS delisted,
           w.symbol IS NOT NULL AS complete,
           s.symbol LIKE '%SETTLED' AS settled,
           regexp_matches(s.symbol, '_[0-9]{6}$') AS delivery_contract,
           e.status, e.contract_type, e.pair, e.base_asset, e.quote_asset, e.onboard_date, e.delivery_date
    FROM spans s
    LEFT JOIN newest n USING (market)
    LEFT JOIN whole w USING (market, symbol)
    LEFT JOIN exchange_symbols e USING (market, symbol)
    """,
    # Seed 002's daily availability table, for every market and dataset: one row per day of each series' life,
    # `available` false on the days no file covers. Monthly files cover each day of their month.
    """
    CREATE OR REPLACE VIEW daily_availability AS
    WITH covered AS (
        SELECT market, dataset, "interval", symbol, cadence, key, size, last_modified,
               unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS date
        FROM upstream_files WHERE NOT gone
    ), best AS (
        SELECT date, market, dataset, "interval", symbol,
               arg_min(key, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS key,
               arg_min(size, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS size,
               arg_min(last_modified, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS last_modified
        FROM covered GROUP BY ALL
    ), series AS (
        SELECT market, dataset, "interval", symbol, min(date) AS first_date, max(date) AS last_date
        FROM best GROUP BY ALL
    ), days AS (
        SELECT market, dataset, "interval", symbol,
               unnest(generate_series(first_date, last_date, INTERVAL 1 DAY))::DATE AS date
        FROM series
    )
    SELECT d.date, d.market, d.dataset, d."interval", d.symbol, b.key IS NOT NULL AS available,
           b.size, b.last_modified,
           (SELECT value FROM catalog_meta WHERE name = 'archive_url') || '/' || b.key AS url
    FROM days d LEFT JOIN best b USING (date, market, dataset, "interval", symbol)
    """,
)

# --- sync state (written by engine/state.py): each archive file's state, and the runs ----------------------
STATE_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS file_state (
        key VARCHAR NOT NULL,
        market VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        symbol VARCHAR NOT NULL,
        "interval" VARCHAR,
        cadence VARCHAR NOT NULL,
        period DATE NOT NULL,
        first_day DATE NOT NULL,
        last_day DATE NOT NULL,
        status VARCHAR NOT NULL,
        etag VARCHAR,
        size BIGINT,
        sha256 VARCHAR,
        checksum VARCHAR,
        "rows" BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error VARCHAR,
        provenance VARCHAR NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sync_runs (
        run_id VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        request VARCHAR NOT NULL,
        summary VARCHAR
    )
    """,
)

# The bytes a failed or quarantined file last failed verification with (`IntegrityError.fingerprint`): the
# same bytes failing again on a fresh download, even in a later run, are upstream's fault.
FAILED_BYTES = "ALTER TABLE file_state ADD COLUMN IF NOT EXISTS failed_bytes VARCHAR"

# --- partition inventory (written by storage/inventory.py): the partition files the lake published ----------
PARTITION_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS partitions (
        path VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        market VARCHAR NOT NULL,
        "interval" VARCHAR,
        symbol VARCHAR NOT NULL,
        period DATE NOT NULL,
        "rows" BIGINT NOT NULL,
        size BIGINT NOT NULL,
        mtime_ns BIGINT NOT NULL,
        written_at TIMESTAMPTZ NOT NULL
    )
    """,
)

# --- day provenance (written by storage/provenance.py): where each stored day's rows came from ------------
PROVENANCE_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS day_provenance (
        path VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        market VARCHAR NOT NULL,
        "interval" VARCHAR,
        symbol VARCHAR NOT NULL,
        day DATE NOT NULL,
        source VARCHAR NOT NULL,
        upstream_ref VARCHAR NOT NULL,
        etag VARCHAR,
        "rows" BIGINT,
        written_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (path, day)
    )
    """,
)


# --- seed 002's availability row (migration 5): probe answers, and the view's status and probe time ----------
# `probe_results` (written by catalog/probed.py): each daily file a probe HEADed, with its last answer (200
# found, 404 missing) and when; a 404 never hides a file listed since (the view lets the file win).
AVAILABILITY_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS probe_results (
        key VARCHAR PRIMARY KEY,
        market VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        "interval" VARCHAR,
        symbol VARCHAR NOT NULL,
        day DATE NOT NULL,
        status_code SMALLINT NOT NULL,
        probed_at TIMESTAMPTZ NOT NULL
    )
    """,
)
# The view of migration 1 plus seed 002's columns: `file_size_bytes` (the seed's name of `size`, kept too),
# `status_code` (200: a listed or probed file covers the day; 404: the day's file was probed missing and no file
# covers it; NULL: neither, such as a day inside a series' life that no file covers and no probe asked) and
# `probe_timestamp` (the latest of: the day's last probe, and when a listing or probe last recorded the covering
# file new or changed; a listing that finds a file unchanged writes nothing, so it does not move it). A
# series' days run to its last probed day too, so "not uploaded yet" is a row. Series are joined on
# coalesce("interval", ''): datasets without an interval have NULL there, which an equi-join never matches (the
# view of migration 1 showed their days as unavailable).
AVAILABILITY_VIEW = """
    CREATE OR REPLACE VIEW daily_availability AS
    WITH covered AS (
        SELECT market, dataset, "interval", symbol, cadence, key, size, last_modified, last_seen,
               unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS date
        FROM upstream_files WHERE NOT gone
    ), best AS (
        SELECT date, market, dataset, coalesce("interval", '') AS iv, symbol,
               arg_min(key, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS key,
               arg_min(size, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS size,
               arg_min(last_modified, CASE cadence WHEN 'daily' THEN 0 ELSE 1 END) AS last_modified,
               max(last_seen) AS seen_at
        FROM covered GROUP BY ALL
    ), probed AS (
        SELECT day AS date, market, dataset, coalesce("interval", '') AS iv, symbol,
               arg_max(status_code, probed_at) AS status_code, max(probed_at) AS probed_at
        FROM probe_results GROUP BY ALL
    ), series AS (
        SELECT market, dataset, iv, symbol, min(date) AS first_date, max(date) AS last_date
        FROM (SELECT date, market, dataset, iv, symbol FROM best
              UNION ALL SELECT date, market, dataset, iv, symbol FROM probed)
        GROUP BY ALL
    ), days AS (
        SELECT market, dataset, iv, symbol,
               unnest(generate_series(first_date, last_date, INTERVAL 1 DAY))::DATE AS date
        FROM series
    )
    SELECT d.date, d.market, d.dataset, nullif(d.iv, '') AS "interval", d.symbol, b.key IS NOT NULL AS available,
           b.size, b.last_modified,
           (SELECT value FROM catalog_meta WHERE name = 'archive_url') || '/' || b.key AS url,
           b.size AS file_size_bytes,
           CASE WHEN b.key IS NOT NULL THEN 200 WHEN p.status_code = 404 THEN 404 END AS status_code,
           greatest(b.seen_at, p.probed_at) AS probe_timestamp
    FROM days d
    LEFT JOIN best b USING (date, market, dataset, iv, symbol)
    LEFT JOIN probed p USING (date, market, dataset, iv, symbol)
"""


def _backfill_provenance(connection: Connection) -> None:
    """Give a lake written before `day_provenance` one row for every day its ingested files cover.

    The source and reference are the file's (`file_state.provenance`, key, ETag), written when the file was.
    Rows: a one-day file's rows are that day's; a monthly file's per-day split was never recorded, and
    reading every partition back inside a migration would make the upgrade as slow as the lake is large, so
    those days have `rows` NULL (the partition's total stays in `partitions.rows`). Where a monthly and a
    daily file both claim a day (a crash before the daily one was marked superseded) the monthly file wins:
    its rows replaced the daily ones. Days already recorded are kept (a lake that lost its migration record
    runs this again: idempotent, like migration 1). Frozen with this migration: granularities never change.
    """
    monthly = sorted(name for name, spec in DATASETS.items() if spec.granularity is Granularity.MONTH)
    connection.execute(
        """
        INSERT OR IGNORE INTO day_provenance BY NAME
        SELECT 'tables/' || dataset || '/market=' || market || coalesce('/interval=' || "interval", '')
                   || '/symbol=' || symbol || '/'
                   || CASE WHEN list_contains($monthly, dataset) THEN strftime(day, '%Y-%m')
                           ELSE strftime(day, '%Y-%m-%d') END
                   || '.parquet' AS path,
               dataset, market, "interval", symbol, day, provenance AS source, key AS upstream_ref, etag,
               CASE WHEN first_day = last_day THEN "rows" END AS "rows", updated_at AS written_at
        FROM (
            SELECT *, unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS day
            FROM file_state WHERE status = $ingested
        )
        QUALIFY row_number() OVER (
            PARTITION BY path, day ORDER BY cadence = $cadence DESC, updated_at DESC, key
        ) = 1
        """,
        {"monthly": monthly, "ingested": FileStatus.INGESTED.value, "cadence": "monthly"},
    )


# --- quality (written by quality/store.py): each check run, its findings and the classified gaps ------------
QUALITY_TABLES: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS quality_runs (
        run_id VARCHAR NOT NULL PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        request VARCHAR NOT NULL,
        summary VARCHAR
    )
    """,
    # One row per problem (or noted fact, severity 'info') a check found: `rule` names the rule of
    # quality/rules.py or the integrity check, `ref` the file or partition, `repair` the command that fixes it.
    """
    CREATE TABLE IF NOT EXISTS quality_findings (
        run_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        rule VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        market VARCHAR,
        dataset VARCHAR,
        "interval" VARCHAR,
        symbol VARCHAR,
        day DATE,
        ref VARCHAR,
        value DOUBLE,
        threshold DOUBLE,
        message VARCHAR NOT NULL,
        repair VARCHAR
    )
    """,
    # Missing rows, classified (quality/gaps.py): whole days (`bars` NULL) or bars missing on a day's grid
    # (`start_time` .. `end_time`, both the first and last missing bar's open time).
    """
    CREATE TABLE IF NOT EXISTS quality_gaps (
        run_id VARCHAR NOT NULL,
        market VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        "interval" VARCHAR,
        symbol VARCHAR NOT NULL,
        first_day DATE NOT NULL,
        last_day DATE NOT NULL,
        start_time TIMESTAMPTZ,
        end_time TIMESTAMPTZ,
        bars BIGINT,
        kind VARCHAR NOT NULL,
        detail VARCHAR
    )
    """,
)


_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER NOT NULL,
        description VARCHAR NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL
    )
"""

# A step is a SQL statement, or a function of the connection for what SQL alone cannot say.
Step = str | Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    """One numbered change of the schema; applied at most once to a lake, in one transaction."""

    version: int
    description: str
    steps: tuple[Step, ...]


# Ordered and append-only: a released migration is never edited (lakes in the field already ran it).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the schema as main wrote it before versions existed",
        (_MIGRATIONS_TABLE, *CATALOG_TABLES, *STATE_TABLES, *PARTITION_TABLES, *CATALOG_VIEWS),
    ),
    Migration(2, "file_state.failed_bytes: the bytes a file last failed verification with", (FAILED_BYTES,)),
    Migration(
        3,
        "day_provenance: where each stored day's rows came from, backfilled from the ingested files",
        (*PROVENANCE_TABLES, _backfill_provenance),
    ),
    Migration(4, "job_runs: the daemon's job history (storage/job_runs.py)", (JOB_RUNS,)),
    Migration(
        5,
        "daily_availability: seed 002's file_size_bytes, status_code, probe_timestamp; probe_results",
        (*AVAILABILITY_TABLES, AVAILABILITY_VIEW),
    ),
    Migration(
        6,
        "rest_reconciliations: REST-provisional days replaced by the archive, and how they differed",
        (
            """
            CREATE TABLE IF NOT EXISTS rest_reconciliations (
                path VARCHAR NOT NULL,
                dataset VARCHAR NOT NULL,
                market VARCHAR NOT NULL,
                "interval" VARCHAR,
                symbol VARCHAR NOT NULL,
                day DATE NOT NULL,
                rest_ref VARCHAR NOT NULL,
                archive_ref VARCHAR NOT NULL,
                rest_rows BIGINT NOT NULL,
                archive_rows BIGINT NOT NULL,
                differing_rows BIGINT NOT NULL,
                columns VARCHAR[] NOT NULL,
                reconciled_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (path, day, reconciled_at)
            )
            """,
        ),
    ),
    Migration(7, "quality_runs, quality_findings, quality_gaps: what `check` found, per run", QUALITY_TABLES),
    Migration(
        8,
        "rest_reconciliations.provenance: what the archive replaced, rest or stream (rows before: rest)",
        ("ALTER TABLE rest_reconciliations ADD COLUMN IF NOT EXISTS provenance VARCHAR DEFAULT 'rest'",),
    ),
    Migration(
        9,
        "quality_series: the series a check run answered for, with the fingerprint of what it read",
        (
            # Written by quality/store.py. A later check carries a series' findings and grid gaps forward from
            # the newest run with the same fingerprint (its partitions, held days and the rules' thresholds).
            """
            CREATE TABLE IF NOT EXISTS quality_series (
                run_id VARCHAR NOT NULL,
                market VARCHAR NOT NULL,
                dataset VARCHAR NOT NULL,
                "interval" VARCHAR,
                symbol VARCHAR NOT NULL,
                fingerprint VARCHAR NOT NULL,
                carried_from VARCHAR
            )
            """,
        ),
    ),
    Migration(
        10,
        "rest_gaps: windows REST was asked for and lacks (confirmed gaps, e.g. exchange maintenance)",
        (
            """
            CREATE TABLE IF NOT EXISTS rest_gaps (
                market VARCHAR NOT NULL,
                dataset VARCHAR NOT NULL,
                "interval" VARCHAR,
                symbol VARCHAR NOT NULL,
                start_time TIMESTAMPTZ NOT NULL,
                end_time TIMESTAMPTZ NOT NULL,
                kind VARCHAR NOT NULL,
                request VARCHAR NOT NULL,
                confirmed_at TIMESTAMPTZ NOT NULL
            )
            """,
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
# The oldest version read-only readers accept as it is (they cannot migrate). Every migration so far only adds
# what readers do not need; one that readers depend on raises this to its own version.
READABLE_FROM = 0


def version_of(connection: Connection, *, database: str | None = None) -> int:
    """The schema version of a lake database (0: written before versions existed, or empty).

    `database`: the alias of an ATTACHed lake; None for the connection's own database. One query: readers ask
    this on every attach, and a lookup in `duckdb_tables()` first would double the cost of an attach."""
    source = f"{database}.schema_migrations" if database is not None else "schema_migrations"
    try:
        rows = connection.execute(f"SELECT max(version) FROM {source}").fetchall()
    except duckdb.CatalogException:
        return 0  # no such table: written before versions existed
    return int(rows[0][0] or 0)


def _too_new(version: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"this lake was written by a newer binance-lake (schema {version}, this version reads up to "
        f"{SCHEMA_VERSION}); upgrade binance-lake"
    )


def check_readable(connection: Connection, *, database: str | None = None) -> int:
    """The lake's version when a read-only reader may read it as it is; otherwise one sentence why not."""
    version = version_of(connection, database=database)
    if version > SCHEMA_VERSION:
        raise _too_new(version)
    if version < READABLE_FROM:
        raise StorageError(
            f"this lake's database is at schema {version}, older than this version reads without upgrading "
            f"({READABLE_FROM}); run any writing command (e.g. binance-lake catalog refresh) to upgrade it"
        )
    return version


def migrate(connection: Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the migrations the lake has not had, oldest first; returns the version reached. An up-to-date
    lake costs one lookup and no DDL.

    An existing lake has each migration in its own transaction, so a failure leaves it at the last version
    reached. An empty database (a new lake) has them all in one: it has nothing to keep if one fails, and one
    commit instead of one each is half the time (~18 against ~36 ms for ten, the first sync's schema step)."""
    latest = migrations[-1].version if migrations else 0
    version = version_of(connection)
    if version > latest:
        raise _too_new(version)
    pending = [m for m in migrations if m.version > version]
    batches = [pending] if version == 0 and _empty(connection) else [[m] for m in pending]
    for batch in batches:
        if not batch:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            for migration in batch:
                for step in migration.steps:
                    if isinstance(step, str):
                        connection.execute(step)
                    else:
                        step(connection)
                connection.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.description, dt.datetime.now(dt.UTC)],
                )
            connection.execute("COMMIT")
        except BaseException:
            # The failed statement may have ended the transaction already; the lake stays at `version`.
            with contextlib.suppress(duckdb.Error):
                connection.execute("ROLLBACK")
            raise
        version = batch[-1].version
    return version


def _empty(connection: Connection) -> bool:
    """Whether the connection's database holds no table or view yet (a new lake)."""
    rows = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    return int(rows[0][0]) == 0


# (database path, inode, follow-up) already brought up to date by this process.
_ENSURED: set[tuple[str, int, int]] = set()


def ensure_schema(database: LakeDatabase, *, then: Callable[[Connection], None] | None = None) -> None:
    """Bring the lake's database up to `SCHEMA_VERSION` (creating it on first use), then `then(connection)`.

    Done once per process and database file: repeated calls (every query of a session) cost nothing."""
    path = str(database.path.resolve())
    memo = (path, _inode(database), id(then) if then else 0)
    if memo in _ENSURED:
        return
    with database.connect() as connection:
        migrate(connection)
        if then is not None:
            then(connection)
    _ENSURED.add((path, _inode(database), memo[2]))


def _inode(database: LakeDatabase) -> int:
    try:
        return database.path.stat().st_ino
    except FileNotFoundError:
        return 0
