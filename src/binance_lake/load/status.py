"""`status`: what the lake holds, per dataset and symbol, and which files failed or are quarantined.

Coverage comes from the state database (`file_state`: the days each ingested archive file covers); sizes come
from the partition files on disk. A file that failed or was quarantined is never silently skipped: it is
counted here per series and listed by `problems`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR, parse_partition_path
from binance_lake.load.connection import Cursor, attached, cursor, tables_of
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import partition_table
from binance_lake.storage.state_reads import problem_files, series_status

_SIZE_FIELDS: list[pa.Field[Any]] = [
    pa.field("market", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("partitions", pa.int64()),
    pa.field("bytes", pa.int64()),
]
SIZE_SCHEMA = pa.schema(_SIZE_FIELDS)


def disk_sizes(root: Path) -> pa.Table:
    """Partition files and bytes per series, from a walk of `tables/` (files that are not partitions ignored)."""
    totals: dict[tuple[str, str, str | None, str], list[int]] = {}
    if objects.store_of(root) is not None:
        return _recorded_sizes(root)
    tables = root / TABLES_DIR
    for path in tables.rglob("*.parquet") if tables.is_dir() else ():
        try:
            partition = parse_partition_path(path.relative_to(root).as_posix())
        except UsageError:
            continue
        interval = partition.interval.value if partition.interval is not None else None
        entry = totals.setdefault(
            (partition.market.value, partition.dataset, interval, partition.symbol), [0, 0]
        )
        entry[0] += 1
        entry[1] += path.stat().st_size
    rows = [
        {"market": m, "dataset": d, "interval": i, "symbol": s, "partitions": n, "bytes": b}
        for (m, d, i, s), (n, b) in sorted(totals.items(), key=lambda item: str(item[0]))
    ]
    return pa.Table.from_pylist(rows, schema=SIZE_SCHEMA)


def _recorded_sizes(root: Path) -> pa.Table:
    """`disk_sizes` of an object-storage lake: from the lake's record of its partitions (the bucket is never
    listed, storage/objects.py)."""
    database = LakeDatabase(root)
    if not database.path.exists():
        return SIZE_SCHEMA.empty_table()
    with database.connect(read_only=True) as connection:
        recorded = partition_table(connection)
    totals: dict[tuple[str, str, str | None, str], list[int]] = {}
    for row in recorded.select(["market", "dataset", "interval", "symbol", "size"]).to_pylist():
        entry = totals.setdefault((row["market"], row["dataset"], row["interval"], row["symbol"]), [0, 0])
        entry[0] += 1
        entry[1] += int(row["size"])
    rows = [
        {"market": m, "dataset": d, "interval": i, "symbol": s, "partitions": n, "bytes": b}
        for (m, d, i, s), (n, b) in sorted(totals.items(), key=lambda item: str(item[0]))
    ]
    return pa.Table.from_pylist(rows, schema=SIZE_SCHEMA)


def _state_schema(handle: Cursor, alias: str | None) -> str | None:
    """Where `file_state` is (None: the lake has none yet)."""
    return f"{alias}." if alias is not None and "file_state" in tables_of(handle, alias) else None


def status(root: Path) -> pa.Table:
    """One row per (market, dataset, interval, symbol): days held, first and last day held, ingested /
    failed / quarantined file counts, partition files and bytes on disk. Sorted by those keys."""
    sizes = disk_sizes(root)
    with cursor() as handle, attached(handle, root) as alias:
        return series_status(handle, sizes, schema=_state_schema(handle, alias))


def problems(root: Path) -> pa.Table:
    """Every file whose last state is failed or quarantined, with its attempts and error."""
    with cursor() as handle, attached(handle, root) as alias:
        return problem_files(handle, schema=_state_schema(handle, alias))
