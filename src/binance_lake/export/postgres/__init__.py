"""The PostgreSQL / TimescaleDB export (`binance-lake export postgres`, `Lake.export_postgres`).

Tables and their columns (tables.py), their DDL as text (ddl.py), binary COPY (binary.py), the connection and
the per-batch merge (sink.py), the per-series bookkeeping in `data_versions` (versions.py), the export itself
(export.py), and rows from outside the lake, a stream collector's (live.py). psycopg 3 is the optional extra
`binance-lake[postgres]`; it is imported only when connecting.
"""
