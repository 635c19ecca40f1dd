"""engine/state.py: the set-wise supersede agrees with the one-file form, and a state batch is one transaction
whose partitions are durable before it commits."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import StorageError
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine import state
from binance_lake.engine.state import (
    FileState,
    FileStatus,
    StateWriter,
    mark_all_superseded,
    mark_superseded,
    record,
)
from binance_lake.storage.database import LakeDatabase, one_transaction
from binance_lake.storage.inventory import PartitionRecord, record_partitions, recorded_partitions

SYMBOLS = ("BTCUSDT", "ETHUSDT")
MONTHS = (dt.date(2026, 9, 1), dt.date(2026, 10, 1))
STATUSES = (FileStatus.INGESTED, FileStatus.FAILED, FileStatus.SUPERSEDED)


def _daily(symbol: str, day: dt.date, interval: Interval = Interval.H1) -> ArchiveFile:
    return ArchiveFile(Market.UM, Cadence.DAILY, "klines", symbol, interval, day)


def _monthly(symbol: str, month: dt.date) -> ArchiveFile:
    return ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", symbol, Interval.H1, month)


def _lake(root: Path, states: list[FileState]) -> LakeDatabase:
    database = LakeDatabase(root)
    ensure_catalog(database)
    with database.connect() as connection:
        record(connection, states)
    return database


def _statuses(database: LakeDatabase) -> dict[str, str]:
    with database.connect(read_only=True) as connection:
        return dict(connection.execute("SELECT key, status FROM file_state").fetchall())


def _days() -> st.SearchStrategy[dt.date]:
    return st.dates(dt.date(2026, 8, 28), dt.date(2026, 11, 3))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.tuples(st.sampled_from(SYMBOLS), _days(), st.sampled_from(STATUSES), st.booleans()),
        max_size=25,
        unique_by=lambda f: (f[0], f[1], f[3]),
    ),
    monthly=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(MONTHS)), max_size=4),
)
def test_superseding_many_months_at_once_equals_one_by_one(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[tuple[str, dt.date, FileStatus, bool]],
    monthly: list[tuple[str, dt.date]],
) -> None:
    # Daily files of two intervals, in and around the months, in several states; only the ingested 1h
    # ones inside a superseding month change.
    states = [
        FileState(f.key, f, status)
        for symbol, day, status, other_interval in files
        for f in [_daily(symbol, day, Interval.M1 if other_interval else Interval.H1)]
    ]
    months = [_monthly(symbol, month) for symbol, month in monthly]
    together = _lake(tmp_path_factory.mktemp("together"), states)
    one_by_one = _lake(tmp_path_factory.mktemp("one_by_one"), states)
    with together.connect() as connection:
        mark_all_superseded(connection, months)
    with one_by_one.connect() as connection:
        for month in months:
            mark_superseded(connection, month)
    assert _statuses(together) == _statuses(one_by_one)
    expected = {
        s.key: FileStatus.SUPERSEDED.value
        if s.status is FileStatus.INGESTED
        and s.file.interval is Interval.H1
        and any(m.symbol == s.file.symbol and m.first_day <= s.file.period <= m.last_day for m in months)
        else s.status.value
        for s in states
    }
    assert _statuses(together) == expected


def test_a_batch_that_fails_midway_records_nothing(tmp_path: Path) -> None:
    database = _lake(tmp_path, [])
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2026, 10, 1))
    file = _daily("BTCUSDT", dt.date(2026, 10, 2))
    with pytest.raises(RuntimeError), database.connect() as connection, one_transaction(connection):
        record_partitions(connection, [PartitionRecord(partition, 24, 100, 1)])
        record(connection, [FileState(file.key, file, FileStatus.INGESTED)])
        raise RuntimeError("crash between the writes of a batch")
    with database.connect(read_only=True) as connection:
        assert recorded_partitions(connection, [partition.posix]) == {}
    assert _statuses(database) == {}


def test_the_writer_makes_a_batch_durable_before_it_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = _lake(tmp_path, [])
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2026, 10, 1))
    file = _monthly("BTCUSDT", dt.date(2026, 10, 1))
    seen: list[tuple[list[Path], dict[str, str]]] = []

    def durable(paths: object) -> None:
        seen.append((list(paths), _statuses(database)))  # type: ignore[call-overload]

    monkeypatch.setattr(state, "make_durable", durable)

    async def run() -> None:
        async with StateWriter(database) as writer:
            writer.published([PartitionRecord(partition, 24, 100, 1)])
            writer.submit([FileState(file.key, file, FileStatus.INGESTED)])

    asyncio.run(run())
    assert seen == [([tmp_path / partition.path], {})]  # fsynced while nothing said ingested
    assert _statuses(database) == {file.key: FileStatus.INGESTED.value}


def test_a_failed_barrier_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = _lake(tmp_path, [])
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2026, 10, 1))
    file = _monthly("BTCUSDT", dt.date(2026, 10, 1))

    def broken(paths: object) -> None:
        raise StorageError("cannot make partition durable: disk gone")

    monkeypatch.setattr(state, "make_durable", broken)

    async def run() -> None:
        async with StateWriter(database) as writer:
            writer.published([PartitionRecord(partition, 24, 100, 1)])
            writer.submit([FileState(file.key, file, FileStatus.INGESTED)])

    with pytest.raises(StorageError, match="durable"):
        asyncio.run(run())
    assert _statuses(database) == {}
