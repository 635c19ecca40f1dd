"""Layer 1: everything that touches local disk: atomic Parquet partitions and the DuckDB state database."""
