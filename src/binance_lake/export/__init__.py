"""Exporters: the lake's rows written into another tool's format (Qlib `.bin` datasets, CSV, PostgreSQL
tables).

An exporter never reads partitions itself, and never imports `load/` (its sibling layer): it is handed an
`OpenStream` (`export.sink`), a function that turns a `SeriesAsk` into a stream of Arrow record batches in
(symbol, time) order — `facade/export.py` builds it on `load.stream.iter_batches`, so memory stays bounded by a
partition and the lake's coverage rules apply unchanged. Lake facts the exporter needs beyond rows (symbols,
which stored days changed) come from storage's and the catalog's typed reads.
"""
