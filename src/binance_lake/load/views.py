"""`sql`: DuckDB over the whole lake, one view per dataset, plus the catalog and state tables.

Each dataset directory under `tables/` becomes a view named after the dataset (`klines`, `fundingRate`, …;
DuckDB names ignore case) reading `tables/<dataset>/**/*.parquet` with Hive partitioning, so `market`,
`interval` and `symbol` are columns and filters on them prune files. Markets whose columns differ (cm trades'
`base_qty`, spot's `is_best_match`) are unioned by name. The lake database, when it exists and is not being
written at that moment, is attached read-only as `lake` (`SELECT * FROM lake.symbols`).
Each call uses its own DuckDB connection, so the names never clash between calls.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pyarrow as pa

from binance_lake.core.datasets import DATASETS
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.load.connection import USER_ERRORS, database_path, first_line


def dataset_views(root: Path) -> dict[str, str]:
    """View name -> SELECT, for every dataset with at least one partition file."""
    views: dict[str, str] = {}
    for name in DATASETS:
        directory = root / TABLES_DIR / name
        if directory.is_dir() and next(directory.rglob("*.parquet"), None) is not None:
            pattern = str(directory / "**" / "*.parquet").replace("'", "''")
            views[name] = (
                f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
                "hive_types_autocast = false, union_by_name = true)"
            )
    return views


def sql(root: Path, query: str) -> pa.Table:
    """Run one SQL statement over the lake; its result as an Arrow table (empty for statements without one)."""
    if not isinstance(query, str) or not query.strip():
        raise UsageError("the query is empty; give one SQL statement, e.g. SELECT count(*) FROM klines")
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, select in dataset_views(root).items():
            connection.execute(f'CREATE VIEW "{name}" AS {select}')
        database = database_path(root)
        if database.exists():
            quoted = str(database).replace("'", "''")
            # While a sync holds the database for a moment, the Parquet views still answer.
            with contextlib.suppress(duckdb.Error):
                connection.execute(f"ATTACH '{quoted}' AS lake (READ_ONLY)")
        relation: object = connection.sql(query)
        if not isinstance(relation, duckdb.DuckDBPyRelation):
            return pa.table({})
        result: pa.Table = relation.to_arrow_table()
        return result
    except USER_ERRORS as error:
        raise UsageError(f"the query failed: {first_line(error)}") from error
    except duckdb.Error as error:
        raise StorageError(f"the query failed: {first_line(error)}") from error
    finally:
        connection.close()
