"""The export's DDL as text. TimescaleDB cannot be installed on the machines that test this project, so its
layout is checked here statement by statement; the plain layout also runs on a real server
(test_export.py)."""

from __future__ import annotations

import datetime as dt

from binance_lake.export.postgres import ddl
from binance_lake.export.postgres.tables import BY_NAME, TABLES


def test_timescale_layout() -> None:
    text = ddl.full_ddl("market_um", timescale=True)
    joined = "\n".join(text)
    assert text[:2] == [
        'CREATE SCHEMA IF NOT EXISTS "market_um"',
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
    ]
    assert "PARTITION BY" not in joined and "brin" not in joined  # hypertables chunk by time themselves
    for table in TABLES:
        name = f'"market_um"."{table.name}"'
        assert f"CREATE TABLE IF NOT EXISTS {name} (" in joined
        assert (
            f"SELECT create_hypertable('market_um.{table.name}', 'time', chunk_time_interval => "
            f"INTERVAL '{table.chunk}', if_not_exists => TRUE)"
        ) in text
        segment = "symbol, timeframe" if table.has_timeframe else "symbol"
        assert (
            f"ALTER TABLE {name} SET (timescaledb.compress, timescaledb.compress_segmentby = '{segment}', "
            "timescaledb.compress_orderby = 'time')"
        ) in text
        assert (
            f"SELECT add_compression_policy('market_um.{table.name}', INTERVAL '{table.compress_after}', "
            "if_not_exists => TRUE)"
        ) in text
        # Each table's statements come in that order: create, hypertable, compression settings, policy.
        at = [i for i, s in enumerate(text) if f"'market_um.{table.name}'" in s or f"{name} " in s]
        assert at == sorted(at)
    assert "PRIMARY KEY (symbol, timeframe, time)" in joined and "PRIMARY KEY (symbol, time)" in joined
    liquidations = ddl.timescale_table("market_um", BY_NAME["liquidations"])[0]
    assert "PRIMARY KEY" not in liquidations  # two orders can share a millisecond


def test_timescale_continuous_aggregate_and_view() -> None:
    aggregate, policy, view = ddl.timescale_oi_price("s")
    assert aggregate.startswith(
        'CREATE MATERIALIZED VIEW IF NOT EXISTS "s"."open_interest_1h" WITH (timescaledb.continuous) AS'
    )
    assert "time_bucket(INTERVAL '1 hour', time) AS bucket" in aggregate
    assert "last(open_interest, time) AS open_interest" in aggregate
    assert aggregate.endswith("GROUP BY bucket, symbol\nWITH NO DATA")
    assert policy.startswith("SELECT add_continuous_aggregate_policy('s.open_interest_1h', start_offset =>")
    assert view.startswith('CREATE OR REPLACE VIEW "s"."oi_price_1h" AS')
    assert 'FROM "s"."open_interest_1h" AS o' in view and "k.timeframe = '1h'" in view
    start, end = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    assert ddl.refresh_oi_price("s", True, populated=True, span=(start, end)) == (
        "CALL refresh_continuous_aggregate('s.open_interest_1h', '2024-01-01T00:00:00+00:00', "
        "'2024-02-01T00:00:00+00:00')"
    )


def test_plain_layout_and_names_are_quoted() -> None:
    statements = ddl.plain_table('we"ird', BY_NAME["ohlcv"])
    assert statements[0].startswith('CREATE TABLE IF NOT EXISTS "we""ird"."ohlcv" (')
    assert statements[0].endswith(") PARTITION BY RANGE (time)")
    assert (
        statements[1] == 'CREATE INDEX IF NOT EXISTS "ohlcv_time_brin" ON "we""ird"."ohlcv" USING brin (time)'
    )
    assert ddl.month_partition("s", BY_NAME["ohlcv"], dt.date(2024, 12, 5)) == (
        'CREATE TABLE IF NOT EXISTS "s"."ohlcv_p202412" PARTITION OF "s"."ohlcv" FOR VALUES FROM '
        "('2024-12-01 00:00:00+00') TO ('2025-01-01 00:00:00+00')"
    )
    assert (
        ddl.refresh_oi_price("s", False, populated=True)
        == 'REFRESH MATERIALIZED VIEW CONCURRENTLY "s"."oi_price_1h"'
    )
    assert ddl.refresh_oi_price("s", False, populated=False) == 'REFRESH MATERIALIZED VIEW "s"."oi_price_1h"'


def test_the_timescale_statements_plain_postgresql_knows_run(pg_dsn: str) -> None:
    """What of the TimescaleDB layout is plain SQL runs on the real server: every table definition, and
    oi_price_1h's view over a stand-in for the continuous aggregate with the same columns."""
    import psycopg

    with psycopg.connect(pg_dsn) as connection:
        connection.execute(b'CREATE SCHEMA "ts"')
        for table in TABLES:
            connection.execute(ddl.timescale_table("ts", table)[0].encode())
        aggregate = ddl.timescale_oi_price("ts")[0]
        select = aggregate[aggregate.index("SELECT") : aggregate.index("WITH NO DATA")]
        # time_bucket and last() are TimescaleDB's; date_bin and max stand in for them to type the columns.
        stand_in = select.replace("time_bucket(INTERVAL '1 hour', time)", "date_bin('1 hour', time, 'epoch')")
        stand_in = stand_in.replace("last(open_interest, time)", "max(open_interest)")
        stand_in = stand_in.replace("last(open_interest_value, time)", "max(open_interest_value)")
        connection.execute(f'CREATE TABLE "ts"."open_interest_1h" AS {stand_in}'.encode())
        connection.execute(ddl.timescale_oi_price("ts")[2].encode())
        columns = connection.execute(
            b"SELECT column_name FROM information_schema.columns WHERE table_schema = 'ts' "
            b"AND table_name = 'oi_price_1h' ORDER BY ordinal_position"
        ).fetchall()
    assert [c[0] for c in columns] == [
        "bucket",
        "symbol",
        "open_interest",
        "open_interest_value",
        "avg_open_interest",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
    ]
