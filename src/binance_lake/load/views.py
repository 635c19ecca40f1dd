"""`sql`: DuckDB over the whole lake, one view per dataset, plus the catalog and state tables.

Each dataset directory under `tables/` becomes a view named after the dataset (`klines`, `fundingRate`, …;
DuckDB names ignore case) reading `tables/<dataset>/**/*.parquet` with Hive partitioning, so `market`,
`interval` and `symbol` are columns and filters on them prune files. Markets whose columns differ (cm trades'
`base_qty`, spot's `is_best_match`) are unioned by name. The lake database, when it exists and is not being
written at that moment, is attached read-only as `lake` (`SELECT * FROM lake.symbols`).
Each call uses its own DuckDB connection, so the names never clash between calls.

By default a query may only read, and only the lake: statements other than SELECT / EXPLAIN (COPY, ATTACH,
SET, INSTALL, CREATE, …) are refused before they run, and the connection is then locked down with DuckDB's
own sandbox (`enable_external_access = false`, `allowed_directories` = the lake root and a private spill
directory, `lock_configuration = true`), so `read_csv('/etc/passwd')` or `COPY … TO '/tmp/x'` fail and the
query cannot undo the settings. `unsafe=True` (`binance-lake query --unsafe`) runs anything, as DuckDB would.
"""

from __future__ import annotations

import contextlib
import tempfile
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


# Statement types that only read (DESCRIBE, SHOW and SUMMARIZE parse as SELECT).
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


def _check_reads_only(query: str) -> None:
    for statement in duckdb.extract_statements(query):
        if statement.type not in READ_STATEMENTS:
            raise UsageError(
                f"the query may only read the lake, not run {statement.type.name} statements "
                "(--unsafe, or `Lake.sql(..., unsafe=True)`, runs any statement)"
            )


def _lock_down(connection: duckdb.DuckDBPyConnection, root: Path, spill: Path) -> None:
    """From here on the connection reads files under `root` only (and spills into `spill`), and no setting can
    be changed back. The views and the attached catalog were bound before, so they keep working."""
    allowed = ", ".join("'" + (str(p.resolve()) + "/").replace("'", "''") + "'" for p in (root, spill))
    connection.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
    connection.execute(f"SET allowed_directories = [{allowed}]")
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def sql(root: Path, query: str, *, unsafe: bool = False) -> pa.Table:
    """Run one SQL statement over the lake; its result as an Arrow table (empty for statements without one).

    Unless `unsafe`, the statement may only read, and only files of the lake (see the module docstring)."""
    if not isinstance(query, str) or not query.strip():
        raise UsageError("the query is empty; give one SQL statement, e.g. SELECT count(*) FROM klines")
    if unsafe:
        return _run(root, query, None)
    try:
        spill = tempfile.TemporaryDirectory(prefix="binance-lake-query-")
    except OSError as error:
        raise StorageError(f"cannot make a temporary directory for the query: {error.strerror}") from None
    with spill:
        return _run(root, query, Path(spill.name))


def _run(root: Path, query: str, spill: Path | None) -> pa.Table:
    connection = duckdb.connect()
    try:
        if spill is not None:
            _check_reads_only(query)
        connection.execute("SET TimeZone = 'UTC'")
        for name, select in dataset_views(root).items():
            connection.execute(f'CREATE VIEW "{name}" AS {select}')
        database = database_path(root)
        if database.exists():
            quoted = str(database).replace("'", "''")
            # While a sync holds the database for a moment, the Parquet views still answer.
            with contextlib.suppress(duckdb.Error):
                connection.execute(f"ATTACH '{quoted}' AS lake (READ_ONLY)")
        if spill is not None:
            _lock_down(connection, root, spill)
        relation: object = connection.sql(query)
        if not isinstance(relation, duckdb.DuckDBPyRelation):
            return pa.table({})
        result: pa.Table = relation.to_arrow_table()
        return result
    except duckdb.PermissionException as error:
        raise UsageError(
            f"the query failed: {first_line(error)} (a query reads only the lake's files; pass --unsafe to "
            "lift that)"
        ) from error
    except USER_ERRORS as error:
        raise UsageError(f"the query failed: {first_line(error)}") from error
    except duckdb.Error as error:
        raise StorageError(f"the query failed: {first_line(error)}") from error
    finally:
        connection.close()
