"""The lake's record of the partition files it published (lake.duckdb table `partitions`), and the cheap
check that a recorded partition is still the file that was written.

Every partition write (storage.parquet) reports the published file's rows, size and `mtime_ns`; the sync
records them here, in the same database write as the files' state. Checking a partition then costs one
`os.stat` and no reading: a file that is gone, or whose size or mtime differ from the record, is not the file
the lake wrote (deleted, truncated, overwritten, or touched). Only such a file is opened, and only its
footer: a readable footer with the recorded number of rows is the same data moved or touched (re-recorded),
anything else is damaged. On an object-storage lake the stat is a HEAD request (size and LastModified), and
an object that differs from its record is damaged outright: objects are never touched or moved, so another
LastModified means other bytes were PUT under the key. What a stat cannot see (bit rot inside a page with size and mtime unchanged) is
the full `check`'s business.

One row per partition path (relative to the lake root, POSIX). This module writes the table; its declaration
lives with every other table in storage/schema.py, so a lake written before it existed is upgraded and simply
has no records yet (its partitions are then checked for existence only). Where each day's rows came from
is `storage/provenance.py`'s table, beside this one.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR, Partition, parse_partition_path
from binance_lake.storage import objects
from binance_lake.storage.database import Connection, replace_rows
from binance_lake.storage.provenance import DayRows, series_columns
from binance_lake.storage.schema import PARTITION_TABLES

PARTITIONS_SCHEMA: tuple[str, ...] = PARTITION_TABLES  # declared in storage/schema.py


@dataclass(frozen=True)
class PartitionRecord:
    """A published partition file as it was when written."""

    partition: Partition
    rows: int
    size: int
    mtime_ns: int
    # The rows each upstream source gave each day the write replaced (storage.provenance), when known.
    days: tuple[DayRows, ...] = ()

    @property
    def path(self) -> str:
        return self.partition.posix


class Damage(StrEnum):
    GONE = "gone"  # the file is not there
    DAMAGED = "damaged"  # there, but not a readable Parquet file with the recorded rows


def stat_of(path: Path | str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or None when it does not exist (an object's size and LastModified)."""
    if objects.located(path) is not None:
        return objects.stat(path)
    try:
        st = os.stat(path)  # noqa: PTH116 - one call, no Path object per partition
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_mtime_ns


def readable_rows(path: Path) -> int | None:
    """Rows in the file's Parquet footer, or None when the file is not a readable Parquet file."""
    try:
        with pq.ParquetFile(objects.source(path)) as parquet:
            return int(parquet.metadata.num_rows)
    except (OSError, pa.ArrowException):
        return None


_FIELDS: list[pa.Field[Any]] = [
    pa.field("path", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("market", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("period", pa.date32()),
    pa.field("rows", pa.int64()),
    pa.field("size", pa.int64()),
    pa.field("mtime_ns", pa.int64()),
    pa.field("written_at", pa.timestamp("us", tz="UTC")),
]
_SCHEMA = pa.schema(_FIELDS)


def record_partitions(
    connection: Connection, records: Iterable[PartitionRecord], *, now: dt.datetime | None = None
) -> None:
    """Replace the records of these partitions (one transaction; the last record of a path wins)."""
    latest = {r.path: r for r in records}
    when = now or dt.datetime.now(dt.UTC)
    rows = [
        {
            "path": r.path,
            **series_columns(r.partition),
            "period": r.partition.period,
            "rows": r.rows,
            "size": r.size,
            "mtime_ns": r.mtime_ns,
            "written_at": when,
        }
        for r in latest.values()
    ]
    replace_rows(connection, "partitions", ("path",), rows, _SCHEMA)


def recorded_partitions(connection: Connection, paths: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """(rows, size, mtime_ns) recorded for each of `paths` that has a record."""
    wanted = list(paths)
    if not wanted:
        return {}
    rows = connection.execute(
        'SELECT path, "rows", size, mtime_ns FROM partitions WHERE path IN (SELECT unnest(?))', [wanted]
    ).fetchall()
    return {str(p): (int(r), int(s), int(m)) for p, r, s, m in rows}


def latest_recorded(connection: Connection, directory: str, count: int) -> dict[str, tuple[int, int, int]]:
    """(rows, size, mtime_ns) of the last `count` recorded partitions (by path) in one series' `directory`
    (lake-relative, POSIX): how an object-storage lake finds a series' newest partitions without a listing.
    Empty for a lake whose database has no `partitions` table yet (read-only: nothing is upgraded here)."""
    tables = connection.execute("SELECT table_name FROM duckdb_tables() WHERE table_name = 'partitions'")
    if not tables.fetchall():
        return {}
    rows = connection.execute(
        'SELECT path, "rows", size, mtime_ns FROM partitions WHERE starts_with(path, ?) '
        "ORDER BY path DESC LIMIT ?",
        [directory.rstrip("/") + "/", count],
    ).fetchall()
    return {str(p): (int(r), int(s), int(m)) for p, r, s, m in rows}


@dataclass(frozen=True)
class Inspection:
    """The outcome of checking some partitions: the damaged ones, and records to refresh (same data,
    moved or touched: a new mtime with the recorded rows)."""

    damaged: Mapping[Partition, Damage]
    refreshed: tuple[PartitionRecord, ...] = ()


def inspect(
    root: Path, paths: Iterable[str], records: Mapping[str, tuple[int, int, int]], *, deep: bool = False
) -> Inspection:
    """Check each partition (by lake-relative path) against its record: one `os.stat`, and a footer read
    only when the stat differs. A partition without a record (written before records existed) is checked
    for existence only. `deep` (`sync --repair`) reads every page of every partition as well, which finds
    what a stat cannot: bytes damaged with size and mtime unchanged."""
    damaged: dict[Partition, Damage] = {}
    refreshed: list[PartitionRecord] = []
    base = str(root)
    wanted = list(paths)
    remote = objects.store_of(root) is not None
    if remote:  # one HEAD request each, in flight together
        stats = objects.stats([root / path for path in wanted])
    else:
        stats = [stat_of(os.path.join(base, path)) for path in wanted]  # noqa: PTH118 - strings: thousands
    for path, seen in zip(wanted, stats, strict=True):
        if seen is None:
            damaged[parse_partition_path(path)] = Damage.GONE
            continue
        record = records.get(path)
        if deep and not _reads_whole(root / path, record[0] if record else None):
            damaged[parse_partition_path(path)] = Damage.DAMAGED
            continue
        if record is None or seen == record[1:]:
            continue
        if remote:
            # Nothing touches or moves an object: a size or LastModified other than recorded is other bytes
            # PUT under the key (not this lake's write, which records what it uploaded), whatever its rows.
            damaged[parse_partition_path(path)] = Damage.DAMAGED
            continue
        rows = readable_rows(root / path)
        if rows is None or rows != record[0]:
            damaged[parse_partition_path(path)] = Damage.DAMAGED
        else:
            refreshed.append(PartitionRecord(parse_partition_path(path), rows, *seen))
    return Inspection(damaged, tuple(refreshed))


def _reads_whole(path: Path, rows: int | None) -> bool:
    """Whether every page of the file decodes (and it has `rows` rows, when known)."""
    try:
        table = pq.read_table(objects.source(path), page_checksum_verification=True)
    except (OSError, pa.ArrowException):
        return False
    return rows is None or table.num_rows == rows


def repair_command(partition: Partition) -> str:
    """The sync that rebuilds `partition`: its series over exactly its days."""
    interval = f" --intervals {partition.interval.value}" if partition.interval is not None else ""
    return (
        f"binance-lake sync --market {partition.market.value} --datasets {partition.dataset}{interval} "
        f"--symbols {partition.symbol} --start {partition.first_day} --end {partition.last_day}"
    )


def partition_at(path: Path | str) -> tuple[str, Partition | None]:
    """The lake-relative path of a partition file given by any path to it, and the partition (None when the
    path is not a partition's)."""
    parts = Path(path).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == TABLES_DIR:
            relative = "/".join(parts[i:])
            try:
                return relative, parse_partition_path(relative)
            except UsageError:
                break
    return str(path), None


def _reason(error: BaseException | str) -> str:
    if isinstance(error, FileNotFoundError):
        return "gone"
    text = str(error).strip()
    lowered = text.lower()
    if "magic bytes" in lowered or "too small" in lowered or "not a parquet file" in lowered:
        return "not a Parquet file"
    first = text.splitlines()[0] if text else type(error).__name__
    return f"unreadable: {first}"


def damaged_message(path: Path | str, error: BaseException | str) -> str:
    """One sentence naming a partition file that cannot be read and the sync that rebuilds it."""
    relative, partition = partition_at(path)
    if partition is None:
        return f"{relative} cannot be read ({_reason(error)})"
    return f"{relative} is damaged ({_reason(error)}); run `{repair_command(partition)}` to rebuild it"


def partition_table(connection: Connection) -> pa.Table:
    """Every recorded partition: path, dataset, market, interval, symbol, period, rows, size, mtime_ns,
    written_at."""
    table: pa.Table = connection.sql(
        'SELECT path, dataset, market, "interval", symbol, period, "rows", size, mtime_ns, written_at '
        "FROM partitions"
    ).to_arrow_table()
    return table
