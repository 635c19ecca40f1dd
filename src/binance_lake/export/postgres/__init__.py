"""The PostgreSQL / TimescaleDB export (`binance-lake export postgres`, `Lake.export_postgres`): tables and
their columns (tables.py), their DDL as text (ddl.py), binary COPY (binary.py), the connection and per-batch
merge (sink.py), the per-series bookkeeping in `data_versions` (versions.py) and the export itself
(export.py). psycopg 3 is the optional extra `binance-lake[postgres]`; it is imported only when connecting."""
