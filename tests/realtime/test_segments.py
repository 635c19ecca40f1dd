"""Segments: atomic flushes, compaction into partitions with provenance `stream`, idempotent after a crash."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.storage_settings import StorageSettings
from binance_lake.core.vocabulary import Market
from binance_lake.realtime.events import ms_time
from binance_lake.realtime.segments import SEGMENTS_DIR, SegmentWriter, compact, last_stored, pending_segments
from binance_lake.storage import objects
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import stat_of
from binance_lake.storage.provenance import DayRecord, held_days, record_days
from tests.s3_server import S3Root

SERIES = SeriesKey(Market.UM, "aggTrades", None, "BTCUSDT")
DAY = dt.date(2026, 11, 20)
BASE_MS = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp() * 1000)


def trade(ident: int) -> dict[str, object]:
    return {
        "agg_trade_id": ident, "price": 100.0 + ident % 7, "quantity": 1.0, "first_trade_id": ident * 2,
        "last_trade_id": ident * 2 + 1, "transact_time": ms_time(BASE_MS + ident * 1000), "is_buyer_maker": ident % 2 == 0,
    }  # fmt: skip


def _stored_ids(root: Path) -> list[int]:
    path = root / Partition("aggTrades", Market.UM, None, "BTCUSDT", DAY).path
    return list(pq.read_table(objects.source(path))["agg_trade_id"].to_pylist())


@pytest.fixture(params=["local", "s3"])
def lake_root(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A local lake root, or the state directory of an s3:// lake with its store mounted (moto)."""
    if request.param == "local":
        return tmp_path / "lake"
    s3: S3Root = request.getfixturevalue("s3_root")
    storage = StorageSettings(url=s3.url, endpoint_url=s3.server.endpoint, region="us-east-1")
    assert objects.attach_store(s3.state_dir, storage) is not None
    return s3.state_dir


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.integers(1, 500), max_size=40), min_size=1, max_size=5))
def test_segments_compact_to_the_union_without_duplicates(
    tmp_path_factory: object, batches: list[list[int]]
) -> None:
    root = tmp_path_factory.mktemp("lake")  # type: ignore[attr-defined]
    writer = SegmentWriter(root, "s1")
    for batch in batches:  # overlapping flushes, as a repair overlapping live events writes them
        writer.extend(SERIES, [trade(i) for i in batch])
        writer.flush()
    result = compact(root, LakeDatabase(root), "stream:s1")
    wanted = sorted({i for b in batches for i in b})
    assert not pending_segments(root)
    if wanted:
        assert _stored_ids(root) == wanted
        assert result.rows >= len(wanted)
        assert last_stored(root, SERIES, "agg_trade_id") == wanted[-1]


def test_crash_before_deleting_segments_compacts_again_to_the_same_rows(lake_root: Path) -> None:
    root = lake_root
    writer = SegmentWriter(root, "s1")
    writer.extend(SERIES, [trade(i) for i in range(1, 50)])
    writer.flush()
    kept = root.parent / "kept"
    shutil.copytree(root / SEGMENTS_DIR, kept)  # the segments are local files on either root
    compact(root, LakeDatabase(root), "stream:s1")
    partition = root / Partition("aggTrades", Market.UM, None, "BTCUSDT", DAY).path
    # On an s3:// root the compacted partition is an object, recorded; nothing of it in the state directory.
    assert partition.exists() is (objects.located(partition) is None)
    assert stat_of(partition) is not None
    shutil.copytree(kept, root / SEGMENTS_DIR, dirs_exist_ok=True)  # as if the process died before unlinking
    assert last_stored(root, SERIES, "agg_trade_id") == 49
    shutil.rmtree(root / SEGMENTS_DIR)
    assert last_stored(root, SERIES, "agg_trade_id") == 49  # from the stored partition alone
    shutil.copytree(kept, root / SEGMENTS_DIR, dirs_exist_ok=True)
    compact(root, LakeDatabase(root), "stream:s2")
    assert _stored_ids(root) == list(range(1, 50))
    with LakeDatabase(root).connect(read_only=True) as connection:
        (day,) = held_days(
            connection,
            market="um",
            dataset="aggTrades",
            interval=None,
            symbols=["BTCUSDT"],
            first=DAY,
            last=DAY,
        )
    assert (day.source, day.upstream_ref, day.rows) == (Provenance.STREAM, "stream:s2", 49)


def test_an_archive_day_is_never_overwritten_by_stream_rows(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    ensure_catalog(database)
    partition = Partition("aggTrades", Market.UM, None, "BTCUSDT", DAY)
    with database.connect() as connection:
        record_days(connection, [DayRecord(partition, DAY, Provenance.ARCHIVE_DAILY, "key.zip", "etag", 10)])
    writer = SegmentWriter(tmp_path, "s1")
    writer.extend(SERIES, [trade(i) for i in range(1, 5)])
    writer.flush()
    result = compact(tmp_path, database, "stream:s1")
    assert result.partitions == 0 and not (tmp_path / partition.path).exists()
    with database.connect(read_only=True) as connection:
        (day,) = held_days(
            connection,
            market="um",
            dataset="aggTrades",
            interval=None,
            symbols=["BTCUSDT"],
            first=DAY,
            last=DAY,
        )
    assert day.source is Provenance.ARCHIVE_DAILY


def test_held_series_stay_in_memory_until_released(tmp_path: Path) -> None:
    other = SeriesKey(Market.UM, "aggTrades", None, "ETHUSDT")
    writer = SegmentWriter(tmp_path, "s1")
    writer.extend(SERIES, [trade(1), trade(2)])
    writer.extend(other, [trade(3)])
    pending = writer.take(hold=[SERIES])
    assert set(pending) == {other} and writer.buffered == 2
    writer.write(pending)
    assert writer.take() == {SERIES: [trade(1), trade(2)]} and writer.buffered == 0
