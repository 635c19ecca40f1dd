"""Layer 2: what the archive holds, per file and per day, kept in the lake's DuckDB database."""
