"""`sql`: DuckDB over the whole lake, one view per dataset, plus the catalog and state tables.

Each dataset directory under `tables/` becomes a view named after the dataset (`klines`, `fundingRate`, …;
DuckDB names ignore case) reading `tables/<dataset>/**/*.parquet` with Hive partitioning, so `market`,
`interval` and `symbol` are columns and filters on them prune files. Markets whose columns differ (cm trades'
`base_qty`, spot's `is_best_match`) are unioned by name. The lake database, when it exists and is not being
written at that moment, is attached read-only as `lake` (`SELECT * FROM lake.symbols`).
Each call uses its own DuckDB connection, so the names never clash between calls.

One damaged partition file must not break the rest of the lake: each market's files are one `read_parquet`
(one schema per dataset and market, so no file is opened to bind the view but the first), and the markets
are unioned by name. A query that prunes the damaged file away by `symbol`, `market`, `interval` or dataset
never opens it; one that reads it fails with one sentence naming the file and the sync that rebuilds it.
(Scanning the lake's record of every partition before each query would cost more than most queries.)

On an object-storage lake (`s3://…`, storage/objects.py) the bucket is never listed: each dataset and market is a
`pyarrow.dataset` over the partitions `lake.duckdb` records, read through pyarrow's S3 filesystem and handed to
DuckDB as an Arrow scan (projection and filters pushed down) — faster here than DuckDB reading through an fsspec
filesystem (docs/benchmarks.md, "Object storage").

By default a query may only read, and only the lake: statements other than SELECT / EXPLAIN (COPY, ATTACH,
SET, INSTALL, CREATE, …) are refused before they run, and the connection is then locked down with DuckDB's
own sandbox (`enable_external_access = false`, `allowed_directories` = the lake root and a private spill
directory, `lock_configuration = true`), so `read_csv('/etc/passwd')` or `COPY … TO '/tmp/x'` fail and the
query cannot undo the settings. `unsafe=True` (`binance-lake query --unsafe`) runs anything, as DuckDB would.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from binance_lake.core.datasets import DATASETS, get_dataset
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.vocabulary import Market
from binance_lake.load.connection import USER_ERRORS, database_path, first_line
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import damaged_message, partition_table
from binance_lake.storage.schema import check_readable

if TYPE_CHECKING:
    import pyarrow.dataset as ds

# DuckDB names the file it could not read in quotes: `… at end of file '<path>'`, `Failed to read file "<path>"`.
_FILE_IN_ERROR = re.compile(r"""['"]([^'"]*/market=[^'"]*\.parquet)['"]""")


def dataset_views(root: Path) -> dict[str, str]:
    """View name -> SELECT, for every dataset with at least one partition file."""
    views: dict[str, str] = {}
    if objects.store_of(root) is not None:
        return views  # an object-storage lake's partitions are not files under the root (`object_datasets`)
    for name in DATASETS:
        directory = root / TABLES_DIR / name
        if not directory.is_dir():
            continue
        scans = []
        for market in sorted(directory.glob("market=*")):
            if next(market.rglob("*.parquet"), None) is not None:
                pattern = str(market / "**" / "*.parquet").replace("'", "''")
                scans.append(
                    f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
                    "hive_types_autocast = false)"
                )
        if scans:
            views[name] = " UNION ALL BY NAME ".join(scans)
    return views


def damaged_file_error(root: Path, error: BaseException) -> StorageError | None:
    """DuckDB's error about a partition file of the lake it could not read, as one sentence naming the file
    and the command that rebuilds it; None for any other error."""
    text = str(error)
    match = _FILE_IN_ERROR.search(text)
    if match is None or not match.group(1).startswith(str(root / TABLES_DIR)):
        return None
    if "schema mismatch" in text.lower():
        return None  # readable files whose columns differ: not damage
    return StorageError(damaged_message(match.group(1), first_line(error)))


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


def object_datasets(root: Path) -> dict[str, list[ds.Dataset]]:
    """Dataset name -> one `pyarrow.dataset` per market over the recorded partitions of an object-storage
    lake (empty for a local lake, or one without a database yet)."""
    store = objects.store_of(root)
    database = LakeDatabase(root)
    if store is None or not database.path.exists():
        return {}
    # Imported here, not with the module: `import pyarrow.dataset` imports pandas (~0.15 s), which every
    # `from binance_lake import Lake` would otherwise pay, though only an object-storage lake's views use it.
    import pyarrow.dataset as ds

    with database.connect(read_only=True) as connection:
        recorded = partition_table(connection).select(["path", "dataset", "market"]).to_pylist()
    groups: dict[tuple[str, str], list[str]] = {}
    for row in recorded:
        groups.setdefault((row["dataset"], row["market"]), []).append(store.key(row["path"]))
    found: dict[str, list[ds.Dataset]] = {}
    for (name, market), paths in sorted(groups.items()):
        fields = [("market", pa.string()), *([("interval", pa.string())] if "/interval=" in paths[0] else [])]
        partitioning = ds.partitioning(pa.schema([*fields, ("symbol", pa.string())]), flavor="hive")
        base = store.key(f"{TABLES_DIR}/{name}")
        # The lake's schema, so binding opens no object (the partitions were written in it).
        schema = get_dataset(name).schema(Market(market))
        try:
            dataset = ds.dataset(
                sorted(paths),
                schema=pa.schema([*schema, *partitioning.schema]),
                filesystem=store.filesystem,
                format="parquet",
                partitioning=partitioning,
                partition_base_dir=base,
            )
        except (OSError, pa.ArrowException) as error:
            raise StorageError(
                f"cannot open the {name} partitions of market {market} in {store.url}: {error}"
            ) from error
        found.setdefault(name, []).append(dataset)
    return found


def _bind_object_views(connection: duckdb.DuckDBPyConnection, root: Path) -> None:
    for name, datasets in object_datasets(root).items():
        scans = []
        for n, dataset in enumerate(datasets):
            connection.register(f"__{name}_{n}", dataset)
            scans.append(f'SELECT * FROM "__{name}_{n}"')
        connection.execute(f'CREATE VIEW "{name}" AS {" UNION ALL BY NAME ".join(scans)}')


def _bind_views(connection: duckdb.DuckDBPyConnection, root: Path) -> dict[str, StorageError]:
    """Create one view per dataset and attach the catalog; returns the views a damaged file kept from binding."""
    unbound: dict[str, StorageError] = {}
    _bind_object_views(connection, root)
    for name, select in dataset_views(root).items():
        try:
            connection.execute(f'CREATE VIEW "{name}" AS {select}')
        except duckdb.Error as error:
            # The file a view binds on is damaged: the other views still answer; this one's name
            # answers with what is wrong.
            damaged = damaged_file_error(root, error)
            if damaged is None:
                raise
            unbound[name.lower()] = damaged
    database = database_path(root)
    if database.exists():
        quoted = str(database).replace("'", "''")
        # While a sync holds the database for a moment, the Parquet views still answer.
        with contextlib.suppress(duckdb.Error):
            connection.execute(f"ATTACH '{quoted}' AS lake (READ_ONLY)")
            # Outside the suppression's reach (not a duckdb.Error): a lake from a newer version is refused.
            check_readable(connection, database="lake")
    return unbound


def _query(
    connection: duckdb.DuckDBPyConnection, root: Path, query: str, unbound: dict[str, StorageError]
) -> pa.Table:
    try:
        relation: object = connection.sql(query)
        if not isinstance(relation, duckdb.DuckDBPyRelation):
            return pa.table({})
        result: pa.Table = relation.to_arrow_table()
    except duckdb.Error as error:
        damaged = damaged_file_error(root, error) or _unbound(error, unbound)
        if damaged is not None:
            raise damaged from error
        raise
    return result


def _run(root: Path, query: str, spill: Path | None) -> pa.Table:
    connection = duckdb.connect()
    try:
        if spill is not None:
            _check_reads_only(query)
        connection.execute("SET TimeZone = 'UTC'")
        unbound = _bind_views(connection, root)
        if spill is not None:
            _lock_down(connection, root, spill)
        return _query(connection, root, query, unbound)
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


def _unbound(error: BaseException, unbound: dict[str, StorageError]) -> StorageError | None:
    """The damage behind a query that names a view which could not be created."""
    if not isinstance(error, duckdb.CatalogException):
        return None
    match = re.search(r"with name (\w+) does not exist", str(error))
    return unbound.get(match.group(1).lower()) if match else None
