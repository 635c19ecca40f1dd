"""The filesystem seam (storage/objects.py) against moto's S3 server: which lake paths are objects, atomic
publication through storage/parquet.py, the state directory's record of its store, and the state snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import StorageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.storage_settings import StorageSettings
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase, WriterLock
from binance_lake.storage.inventory import stat_of
from binance_lake.storage.parquet import make_durable, merge_partition, read_partition
from tests.s3_server import S3Root

PARTITION = partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2024, 3, 1))


def bars(hours: range, close: float = 1.0) -> pa.Table:
    schema = get_dataset("klines").schema(Market.UM)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    times = [start + dt.timedelta(hours=h) for h in hours]
    columns: dict[str, list[object]] = {}
    for field in schema:
        if field.name == "open_time":
            columns[field.name] = times
        elif field.name == "close_time":
            columns[field.name] = [t + dt.timedelta(minutes=59) for t in times]
        elif pa.types.is_floating(field.type):
            columns[field.name] = [close] * len(times)
        else:
            columns[field.name] = [1] * len(times)
    return pa.table(columns, schema=schema)


def mounted(s3: S3Root) -> Path:
    storage = StorageSettings(url=s3.url, endpoint_url=s3.server.endpoint, region="us-east-1")
    assert objects.attach_store(s3.state_dir, storage) is not None
    return s3.state_dir


def test_only_tables_raw_and_reports_are_objects(s3_root: S3Root) -> None:
    root = mounted(s3_root)
    store = objects.store_of(root)
    assert store is not None and store.url == s3_root.url
    assert objects.located(root / PARTITION.path) == (
        store,
        f"{store.bucket}/{s3_root.prefix}/{PARTITION.posix}",
    )
    assert objects.located(root / "raw" / "data" / "x.zip") is not None
    assert objects.located(root / "reports" / "report.html") is not None
    for local in ("lake.duckdb", ".writer.lock", ".live/sync-1.json", "tablesX/a"):
        assert objects.located(root / local) is None
    assert objects.located(root.parent / "elsewhere" / PARTITION.path) is None


def test_partitions_merge_on_an_s3_root_as_on_a_local_one(s3_root: S3Root, tmp_path: Path) -> None:
    root = mounted(s3_root)
    local = tmp_path / "local"
    for base in (root, local):
        first = merge_partition(base, PARTITION, bars(range(0, 10)), durable=False)
        second = merge_partition(
            base, PARTITION, bars(range(5, 20), close=2.0), replace_days={dt.date(2024, 3, 1)}
        )
        assert (first.rows_after, second.rows_before, second.rows_after) == (10, 10, 15)
        assert (second.size, second.mtime_ns) == stat_of(base / PARTITION.path)
    assert read_partition(root / PARTITION.path) == read_partition(local / PARTITION.path)
    assert not (root / PARTITION.path).exists()  # the object only: no local copy, no temporary left
    assert not [p for p in root.rglob("*") if p.is_file() and p.name != objects.MARKER_NAME]
    make_durable([root / PARTITION.path])  # an object is durable once uploaded: nothing to fsync
    assert read_partition(root / "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2024-04.parquet") is None


def test_a_failed_upload_keeps_the_published_object(s3_root: S3Root, monkeypatch: pytest.MonkeyPatch) -> None:
    root = mounted(s3_root)
    merge_partition(root, PARTITION, bars(range(0, 3)))
    before = read_partition(root / PARTITION.path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection reset")

    monkeypatch.setattr(objects.pafs, "copy_files", refuse)
    with pytest.raises(StorageError, match="cannot upload"):
        merge_partition(root, PARTITION, bars(range(0, 24), close=9.0))
    monkeypatch.undo()
    assert read_partition(root / PARTITION.path) == before


def test_a_state_directory_remembers_its_store(s3_root: S3Root) -> None:
    root = mounted(s3_root)
    objects.unmount(root)
    # A process that opens the state directory itself (a Dask worker, `--root <state dir>`) mounts it too.
    store = objects.attach_store(root, StorageSettings())
    assert store is not None and store.url == s3_root.url
    with pytest.raises(StorageError, match="belongs to the lake"):
        objects.attach_store(
            root, StorageSettings(url="s3://other/lake", endpoint_url=s3_root.server.endpoint)
        )


def test_the_snapshot_reaches_a_reader_with_only_the_bucket(s3_root: S3Root, tmp_path: Path) -> None:
    root = mounted(s3_root)
    database = LakeDatabase(root)
    with WriterLock(root), database.connect() as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS x")
    reader_dir = tmp_path / "reader"
    storage = StorageSettings(url=s3_root.url, endpoint_url=s3_root.server.endpoint, region="us-east-1")
    try:
        objects.attach_store(reader_dir, storage)
        with LakeDatabase(reader_dir).connect(read_only=True) as connection:
            assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]
        assert not objects.fetch_snapshot(reader_dir)  # unchanged: not fetched again
        with WriterLock(root), database.connect() as connection:
            connection.execute("INSERT INTO t VALUES (2)")
        assert objects.fetch_snapshot(reader_dir)
        with LakeDatabase(reader_dir).connect(read_only=True) as connection:
            assert connection.execute("SELECT sum(x) FROM t").fetchall() == [(3,)]
    finally:
        objects.unmount(reader_dir)


def test_a_writer_lists_moves_and_deletes_objects(s3_root: S3Root) -> None:
    root = mounted(s3_root)
    merge_partition(root, PARTITION, bars(range(3)))
    other = partition_for_day("klines", Market.UM, Interval.H1, "ETHUSDT", dt.date(2024, 3, 1))
    merge_partition(root, other, bars(range(2)))
    (root / "tables" / ".local.123.0123abcd.tmp").parent.mkdir(parents=True, exist_ok=True)
    (root / "tables" / ".local.123.0123abcd.tmp").write_bytes(b"x")  # a local file is not listed
    listed = objects.listing(root, "tables")
    assert set(listed) == {PARTITION.posix, other.posix}
    assert listed[PARTITION.posix] == stat_of(root / PARTITION.path)[0]  # type: ignore[index]
    assert objects.listing(root, "raw") == {}
    aside = root / "damaged" / PARTITION.path
    assert objects.move(root / PARTITION.path, aside)
    assert stat_of(root / PARTITION.path) is None and read_partition(aside) == bars(range(3))
    assert not objects.move(root / PARTITION.path, aside)  # nothing left to move
    assert not aside.exists()  # in the bucket, not in the state directory
    objects.delete_many([aside, root / other.path, root / "tables" / "never-there.parquet"])
    assert objects.listing(root, "tables") == {} and objects.listing(root, "damaged") == {}
