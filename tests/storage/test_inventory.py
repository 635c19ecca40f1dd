"""The lake's record of its partition files: what a write publishes is recorded, and the stat check tells a
partition that is gone, overwritten or truncated from one that is intact (or only touched)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import (
    PARTITIONS_SCHEMA,
    Damage,
    PartitionRecord,
    damaged_message,
    inspect,
    record_partitions,
    recorded_partitions,
    stat_of,
)
from binance_lake.storage.parquet import merge_partition

UTC = dt.UTC
MONTH = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2023, 10, 1))
DAY = Partition("aggTrades", Market.UM, None, "BTCUSDT", dt.date(2023, 10, 2))


def _bars(hours: int) -> pa.Table:
    schema = get_dataset("klines").schema(Market.UM)
    start = dt.datetime(2023, 10, 1, tzinfo=UTC)
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    for h in range(hours):
        opened = start + dt.timedelta(hours=h)
        for name in schema.names:
            field = schema.field(name)
            if pa.types.is_timestamp(field.type):
                columns[name].append(opened if name == "open_time" else opened + dt.timedelta(minutes=59))
            elif pa.types.is_integer(field.type):
                columns[name].append(h)
            else:
                columns[name].append(100.0 + h)
    return pa.Table.from_pydict(columns, schema=schema)


def _written(root: Path, hours: int = 24) -> PartitionRecord:
    result = merge_partition(root, MONTH, _bars(hours))
    return PartitionRecord(MONTH, result.rows_after, result.size, result.mtime_ns)


def test_a_write_reports_the_published_files_size_and_mtime(tmp_path: Path) -> None:
    record = _written(tmp_path)
    assert (record.size, record.mtime_ns) == stat_of(tmp_path / MONTH.path)
    assert record.rows == 24


def test_records_round_trip_and_the_last_one_wins(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    database.ensure_schema(PARTITIONS_SCHEMA)
    first = PartitionRecord(MONTH, 1, 10, 100)
    with database.connect() as connection:
        record_partitions(connection, [first, PartitionRecord(DAY, 2, 20, 200)])
        record_partitions(connection, [PartitionRecord(MONTH, 3, 30, 300)])
        # The DDL is idempotent: a lake that has the table (or an older one without it) opens.
        for statement in PARTITIONS_SCHEMA:
            connection.execute(statement)
        got = recorded_partitions(connection, [MONTH.posix, DAY.posix, "tables/x/none.parquet"])
    assert got == {str(MONTH.path): (3, 30, 300), str(DAY.path): (2, 20, 200)}


def _records(record: PartitionRecord) -> dict[str, tuple[int, int, int]]:
    return {record.path: (record.rows, record.size, record.mtime_ns)}


def _later(path: Path, seconds: int = 1) -> None:
    ns = path.stat().st_mtime_ns + seconds * 1_000_000_000
    os.utime(path, ns=(ns, ns))


def test_an_intact_partition_costs_one_stat_and_passes(tmp_path: Path) -> None:
    record = _written(tmp_path)
    inspection = inspect(tmp_path, [MONTH.posix], _records(record))
    assert not inspection.damaged and not inspection.refreshed


def test_a_deleted_partition_is_gone_with_or_without_a_record(tmp_path: Path) -> None:
    record = _written(tmp_path)
    (tmp_path / MONTH.path).unlink()
    assert inspect(tmp_path, [MONTH.posix], _records(record)).damaged == {MONTH: Damage.GONE}
    assert inspect(tmp_path, [MONTH.posix], {}).damaged == {MONTH: Damage.GONE}


@pytest.mark.parametrize("same_size", [True, False], ids=["same size", "other size"])
def test_garbage_over_a_partition_is_damaged(tmp_path: Path, same_size: bool) -> None:
    record = _written(tmp_path)
    path = tmp_path / MONTH.path
    path.write_bytes(b"\0" * (record.size if same_size else 17))
    _later(path)
    assert inspect(tmp_path, [MONTH.posix], _records(record)).damaged == {MONTH: Damage.DAMAGED}


def test_another_valid_file_with_other_rows_is_damaged(tmp_path: Path) -> None:
    record = _written(tmp_path, hours=24)
    pq.write_table(_bars(12), tmp_path / MONTH.path)  # a truncated copy, still Parquet
    _later(tmp_path / MONTH.path)
    assert inspect(tmp_path, [MONTH.posix], _records(record)).damaged == {MONTH: Damage.DAMAGED}


def test_a_touched_partition_is_re_recorded_not_damaged(tmp_path: Path) -> None:
    record = _written(tmp_path)
    _later(tmp_path / MONTH.path, 60)
    inspection = inspect(tmp_path, [MONTH.posix], _records(record))
    assert not inspection.damaged
    (refreshed,) = inspection.refreshed
    assert (refreshed.rows, refreshed.size) == (record.rows, record.size)
    assert refreshed.mtime_ns == record.mtime_ns + 60_000_000_000


def test_a_partition_without_a_record_is_checked_for_existence_only(tmp_path: Path) -> None:
    _written(tmp_path)
    (tmp_path / MONTH.path).write_bytes(b"garbage")
    assert not inspect(tmp_path, [MONTH.posix], {}).damaged


def test_the_damage_message_names_the_file_and_the_sync_that_rebuilds_it(tmp_path: Path) -> None:
    message = damaged_message(tmp_path / DAY.path, "No magic bytes found at end of file")
    assert message == (
        "tables/aggTrades/market=um/symbol=BTCUSDT/2023-10-02.parquet is damaged (not a Parquet file); "
        "run `binance-lake sync --market um --datasets aggTrades --symbols BTCUSDT --start 2023-10-02 "
        "--end 2023-10-02` to rebuild it"
    )
    assert (
        damaged_message("/elsewhere/x.parquet", "oops")
        == "/elsewhere/x.parquet cannot be read (unreadable: oops)"
    )
