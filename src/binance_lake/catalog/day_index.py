"""The day index: `series_codes` kept equal to the fixed code table of core/series.py, and `day_index`
(one row per day, series and symbol, from the daily file when there is one, else the monthly one) redone for
the slices a catalog change touched."""

from __future__ import annotations

from binance_lake.catalog.meta import set_meta
from binance_lake.core.series import SERIES_CODE_SPAN, SERIES_CODES, SERIES_FINGERPRINT
from binance_lake.storage.database import Connection


def collect_affected(
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


def reindex_affected(connection: Connection) -> None:
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
    missing = sorted(wanted - held)
    if missing:
        # One statement for all the rows: `executemany` runs one insert per row, ~30 ms for a new lake's 168.
        connection.execute(
            "INSERT INTO series_codes VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(missing)),
            [value for code, key in missing for value in (code, *key)],
        )
    connection.execute("COMMIT")
    set_meta(connection, "series_codes", SERIES_FINGERPRINT)
    if rebuild:
        rebuild_day_index(connection)


def rebuild_day_index(connection: Connection) -> None:
    """Build the day index from scratch."""
    connection.execute("BEGIN TRANSACTION")
    connection.execute("DELETE FROM day_index")
    collect_affected(
        connection, 'SELECT market, dataset, "interval", symbol, first_day FROM upstream_files WHERE NOT gone'
    )
    reindex_affected(connection)
    connection.execute("COMMIT")
