-- lake.duckdb as binance-lake wrote it before schema versions existed (main at f804d62), verbatim: the DDL of
-- catalog/store.py, engine/state.py and storage/inventory.py, in the order they ran. Frozen: never edit it.
-- tests/storage/test_schema.py builds old lakes from it and checks that the new code upgrades them.
-- catalog/store.py SCHEMA
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
);
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
);
CREATE TABLE IF NOT EXISTS upstream_other (
    key VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL
);
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
);
CREATE TABLE IF NOT EXISTS series_codes (
    code INTEGER NOT NULL,
    market VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    "interval" VARCHAR
);
CREATE TABLE IF NOT EXISTS day_index (
    day_series BIGINT NOT NULL,
    key VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    cadence VARCHAR NOT NULL,
    size BIGINT,
    last_modified TIMESTAMPTZ
);
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
);
CREATE TABLE IF NOT EXISTS catalog_meta (
    name VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE OR REPLACE VIEW symbol_datasets AS
SELECT market, symbol, dataset, min(first_day) AS first_day, max(last_day) AS last_day,
       count(*) AS files, sum(size)::BIGINT AS bytes
FROM upstream_files WHERE NOT gone
GROUP BY market, symbol, dataset;
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
LEFT JOIN exchange_symbols e USING (market, symbol);
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
FROM days d LEFT JOIN best b USING (date, market, dataset, "interval", symbol);
-- engine/state.py STATE_SCHEMA
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
);
CREATE TABLE IF NOT EXISTS sync_runs (
    run_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    request VARCHAR NOT NULL,
    summary VARCHAR
);
ALTER TABLE file_state ADD COLUMN IF NOT EXISTS failed_bytes VARCHAR;
-- storage/inventory.py PARTITIONS_SCHEMA
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
);
