"""The DDL of the PostgreSQL export, as text: plain PostgreSQL or TimescaleDB.

Pure: every function returns SQL statements (strings) for one schema, so the TimescaleDB layout, which
cannot be installed on the machines that test this project, is checked as text (tests/export/postgres/
test_ddl.py) while the plain layout runs on a real server.

- Plain PostgreSQL: each table is range-partitioned by month on `time` (`month_partition` creates a month
  when a batch first reaches it), with a BRIN index on `time` (tiny, and time-ordered partitions are what BRIN
  is for) and the primary key (symbol, [timeframe,] time); `oi_price_1h` is a materialized view refreshed
  after each export.
- TimescaleDB: each table is a hypertable with a chunk interval sized to its row rate, compressed after a
  while (segmented by series, ordered by time: the layout TimescaleDB compresses best), and `oi_price_1h`
  reads the continuous aggregate `open_interest_1h` (a continuous aggregate cannot join two hypertables, so
  the hourly open interest is aggregated continuously and joined with the 1h bars by a plain view).

Statements are idempotent (IF NOT EXISTS), but the sink runs a table's statements only when the table is
missing, so an existing table's layout (and its compression settings) is never altered.
"""

from __future__ import annotations

import datetime as dt

from binance_lake.core.timerange import next_month
from binance_lake.export.postgres.tables import TABLES, PgTable

DATA_VERSIONS = "data_versions"
OI_PRICE = "oi_price_1h"
OI_HOURLY = "open_interest_1h"  # the continuous aggregate under oi_price_1h (TimescaleDB only)
# The tables oi_price_1h reads: it can only be created once both exist, and is refreshed when either changes.
OI_SOURCES = ("open_interest", "ohlcv")


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _column_list(table: PgTable) -> str:
    key = ["symbol text NOT NULL"]
    if table.has_timeframe:
        key.append("timeframe text NOT NULL")
    key.append("time timestamptz NOT NULL")
    values = [f"{ident(c.name)} {c.pg_type}" for c in table.columns]
    primary = [f"PRIMARY KEY ({', '.join(table.key)})"] if table.unique else []
    return ",\n    ".join([*key, *values, "source text", *primary])


def create_schema(schema: str) -> list[str]:
    return [f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}"]


def data_versions(schema: str) -> list[str]:
    """The per-series bookkeeping: the watermark an interrupted export resumes from, the lake partitions
    exported in full (name → fingerprint), provenance counts and the last run."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {qualified(schema, DATA_VERSIONS)} (
    table_name text NOT NULL,
    symbol text NOT NULL,
    timeframe text NOT NULL DEFAULT '',
    market text NOT NULL,
    dataset text NOT NULL,
    watermark timestamptz,
    partitions jsonb NOT NULL DEFAULT '{{}}',
    pending jsonb,
    rows_exported bigint NOT NULL DEFAULT 0,
    provenance jsonb NOT NULL DEFAULT '{{}}',
    first_time timestamptz,
    last_time timestamptz,
    last_run_started timestamptz,
    last_run_finished timestamptz,
    PRIMARY KEY (table_name, symbol, timeframe)
)"""
    ]


def plain_table(schema: str, table: PgTable) -> list[str]:
    """A month-partitioned table with a BRIN index on time (and a B-tree on the series when keyless)."""
    name = qualified(schema, table.name)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {_column_list(table)}\n) PARTITION BY RANGE (time)",
        f"CREATE INDEX IF NOT EXISTS {ident(table.name + '_time_brin')} ON {name} USING brin (time)",
    ]
    if not table.unique:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {ident(table.name + '_series')} ON {name} (symbol, time)"
        )
    return statements


def month_partition(schema: str, table: PgTable, month: dt.date) -> str:
    """The partition of `table` holding `month` (its first day)."""
    start, end = month.replace(day=1), next_month(month)
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, f'{table.name}_p{start:%Y%m}')} PARTITION OF "
        f"{qualified(schema, table.name)} FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') "
        f"TO ('{end.isoformat()} 00:00:00+00')"
    )


def timescale_table(schema: str, table: PgTable) -> list[str]:
    """A hypertable with its chunk interval and a compression policy on old chunks."""
    name = qualified(schema, table.name)
    segment = "symbol, timeframe" if table.has_timeframe else "symbol"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {_column_list(table)}\n)",
        f"SELECT create_hypertable({literal(f'{schema}.{table.name}')}, 'time', "
        f"chunk_time_interval => INTERVAL {literal(table.chunk)}, if_not_exists => TRUE)",
        f"ALTER TABLE {name} SET (timescaledb.compress, timescaledb.compress_segmentby = "
        f"{literal(segment)}, timescaledb.compress_orderby = 'time')",
        f"SELECT add_compression_policy({literal(f'{schema}.{table.name}')}, "
        f"INTERVAL {literal(table.compress_after)}, if_not_exists => TRUE)",
    ]
    if not table.unique:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {ident(table.name + '_series')} ON {name} (symbol, time DESC)"
        )
    return statements


def _oi_price_select(schema: str, hourly: str) -> str:
    """oi_price_1h's query over an hourly open-interest relation `hourly` and the 1h bars of `ohlcv`."""
    return f"""SELECT o.bucket, o.symbol, o.open_interest, o.open_interest_value, o.avg_open_interest,
       k.open, k.high, k.low, k.close, k.volume, k.quote_volume
FROM {hourly} AS o
LEFT JOIN {qualified(schema, "ohlcv")} AS k
  ON k.symbol = o.symbol AND k.timeframe = '1h' AND k.time = o.bucket"""


def plain_oi_price(schema: str) -> list[str]:
    """oi_price_1h as a materialized view (refreshed by `refresh_oi_price`)."""
    hourly = f"""(
    SELECT date_trunc('hour', time) AS bucket, symbol,
           (array_agg(open_interest ORDER BY time DESC))[1] AS open_interest,
           (array_agg(open_interest_value ORDER BY time DESC))[1] AS open_interest_value,
           avg(open_interest) AS avg_open_interest
    FROM {qualified(schema, "open_interest")}
    GROUP BY 1, 2
)"""
    view = qualified(schema, OI_PRICE)
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} AS\n{_oi_price_select(schema, hourly)}\nWITH NO DATA",
        # A unique index lets later refreshes run CONCURRENTLY (readers are never blocked).
        f"CREATE UNIQUE INDEX IF NOT EXISTS {ident(OI_PRICE + '_key')} ON {view} (symbol, bucket)",
    ]


def timescale_oi_price(schema: str) -> list[str]:
    """The continuous aggregate `open_interest_1h` with its refresh policy, and oi_price_1h over it."""
    hourly = qualified(schema, OI_HOURLY)
    return [
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {hourly} WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, symbol,
       last(open_interest, time) AS open_interest,
       last(open_interest_value, time) AS open_interest_value,
       avg(open_interest) AS avg_open_interest
FROM {qualified(schema, "open_interest")}
GROUP BY bucket, symbol
WITH NO DATA""",
        f"SELECT add_continuous_aggregate_policy({literal(f'{schema}.{OI_HOURLY}')}, "
        "start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', "
        "schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)",
        f"CREATE OR REPLACE VIEW {qualified(schema, OI_PRICE)} AS\n{_oi_price_select(schema, hourly)}",
    ]


def refresh_oi_price(
    schema: str, timescale: bool, *, populated: bool, span: tuple[dt.datetime, dt.datetime] | None = None
) -> str:
    """The statement that brings oi_price_1h up to date after an export that wrote `span` of
    open_interest (TimescaleDB refreshes only that window; it must run outside a transaction)."""
    if timescale:
        window = "NULL, NULL" if span is None else f"'{span[0].isoformat()}', '{span[1].isoformat()}'"
        return f"CALL refresh_continuous_aggregate({literal(f'{schema}.{OI_HOURLY}')}, {window})"
    concurrently = "CONCURRENTLY " if populated else ""
    return f"REFRESH MATERIALIZED VIEW {concurrently}{qualified(schema, OI_PRICE)}"


def full_ddl(schema: str, timescale: bool) -> list[str]:
    """Every statement of a fresh export schema, in order (what `--timescale on` would run on an empty
    database; also what the DDL tests read)."""
    statements = create_schema(schema)
    if timescale:
        statements.append("CREATE EXTENSION IF NOT EXISTS timescaledb")
    statements += data_versions(schema)
    for table in TABLES:
        statements += timescale_table(schema, table) if timescale else plain_table(schema, table)
    statements += timescale_oi_price(schema) if timescale else plain_oi_price(schema)
    return statements
