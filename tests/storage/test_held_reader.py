"""`HeldReader`: a read-only connection kept between reads, that never keeps a writer out for long."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from binance_lake.core.errors import StorageError
from binance_lake.storage.database import (
    WAITING_NAME,
    Connection,
    HeldReader,
    LakeDatabase,
    WriterLock,
    held_reader,
    writer_active,
)


def _lake(root: Path) -> LakeDatabase:
    database = LakeDatabase(root)
    with database.connect() as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS n")
    return database


def _count(reader: HeldReader) -> int:
    with reader.connection() as connection:
        row = connection.execute("SELECT count(*) FROM t").fetchone()
        assert row is not None
        return int(row[0])


def test_the_connection_is_kept_between_reads(tmp_path: Path) -> None:
    reader = HeldReader(_lake(tmp_path), idle_seconds=60)
    with reader.connection() as first:
        pass
    with reader.connection() as second:
        assert second is first
    reader.close()


def test_a_write_of_this_process_closes_it_and_the_next_read_sees_the_write(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    reader = HeldReader(database, idle_seconds=60)
    assert _count(reader) == 1
    with database.connect() as connection:
        connection.execute("INSERT INTO t VALUES (2)")
    assert _count(reader) == 2
    reader.close()


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    reader = HeldReader(_lake(tmp_path), idle_seconds=0.05)
    assert _count(reader) == 1
    deadline = time.monotonic() + 5
    while reader._connection is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader._connection is None
    assert _count(reader) == 1  # and reopened on the next read


def test_nothing_is_held_while_a_writer_holds_the_lake(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    reader = HeldReader(database, idle_seconds=60)
    with WriterLock(tmp_path):
        assert writer_active(tmp_path)
        assert _count(reader) == 1
        assert reader._connection is None
    assert not writer_active(tmp_path)
    assert _count(reader) == 1
    assert reader._connection is not None
    (tmp_path / WAITING_NAME).write_text("1")  # a writer of another process waits for the file
    assert _count(reader) == 1
    assert reader._connection is None
    reader.close()


def test_a_writer_in_another_process_gets_in_while_a_reader_holds_the_file(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    reader = HeldReader(database, idle_seconds=600)  # only the writer's signal can free the file in time
    assert _count(reader) == 1
    write = (
        "import sys; from pathlib import Path; from binance_lake.storage.database import LakeDatabase\n"
        "with LakeDatabase(Path(sys.argv[1]), lock_wait_seconds=20).connect() as c:\n"
        "    c.execute('INSERT INTO t VALUES (2)')\n"
    )
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", write, str(tmp_path)], check=True, timeout=60)
    # Python start-up and imports take most of it; the file was let go within the watcher's period.
    assert time.monotonic() - started < 20
    assert not (tmp_path / WAITING_NAME).exists()
    assert _count(reader) == 2
    reader.close()


def test_a_missing_lake_is_one_sentence(tmp_path: Path) -> None:
    reader = HeldReader(LakeDatabase(tmp_path / "nothing"))
    with pytest.raises(StorageError, match="does not exist yet"), reader.connection():
        pass


def test_every_lake_catalog_of_a_process_shares_one_held_connection(tmp_path: Path) -> None:
    """`Lake.catalog` builds a new `LakeCatalog` on each access: the reader it holds is the process's."""
    database = _lake(tmp_path)
    reader = held_reader(LakeDatabase(tmp_path))
    assert held_reader(database) is reader
    with reader.connection() as first:
        pass
    with held_reader(LakeDatabase(tmp_path)).connection() as second:
        assert second is first
    reader.close()


def _counted(reader: HeldReader, calls: list[int]) -> int:
    def compute(connection: Connection) -> int:
        calls.append(1)
        row = connection.execute("SELECT count(*) FROM t").fetchone()
        assert row is not None
        return int(row[0])

    return reader.cached("count", compute)


def test_a_cached_answer_is_reused_until_this_process_writes(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    reader = HeldReader(database, idle_seconds=60)
    calls: list[int] = []
    assert _counted(reader, calls) == 1
    assert _counted(reader, calls) == 1
    assert len(calls) == 1  # the second answer came from the cache
    with database.connect() as connection:
        connection.execute("INSERT INTO t VALUES (2)")
    assert _counted(reader, calls) == 2
    assert len(calls) == 2
    reader.close()


def test_a_cached_answer_is_dropped_when_another_process_writes(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    reader = HeldReader(database, idle_seconds=0.05)  # let go of the file, so the writer gets in at once
    calls: list[int] = []
    assert _counted(reader, calls) == 1
    write = (
        "import sys; from pathlib import Path; from binance_lake.storage.database import LakeDatabase\n"
        "with LakeDatabase(Path(sys.argv[1]), lock_wait_seconds=20).connect() as c:\n"
        "    c.execute('INSERT INTO t VALUES (2)')\n"
    )
    subprocess.run([sys.executable, "-c", write, str(tmp_path)], check=True, timeout=60)
    assert _counted(reader, calls) == 2  # the file's change stamp moved: queried again
    assert len(calls) == 2
    reader.close()


def test_nothing_is_cached_while_a_writer_holds_the_lake(tmp_path: Path) -> None:
    reader = HeldReader(_lake(tmp_path), idle_seconds=60)
    calls: list[int] = []
    with WriterLock(tmp_path):
        assert _counted(reader, calls) == 1
        assert _counted(reader, calls) == 1
        assert len(calls) == 2
    reader.close()


def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("binance_lake.storage.database.HELD_RESULTS", 3)
    reader = HeldReader(_lake(tmp_path), idle_seconds=60)
    for key in range(10):
        reader.cached(key, lambda connection: 0)
        assert len(reader._results) <= 3
    reader.close()


def test_a_key_that_cannot_be_hashed_is_asked_every_time(tmp_path: Path) -> None:
    reader = HeldReader(_lake(tmp_path), idle_seconds=60)
    calls: list[int] = []
    for _ in range(2):
        assert reader.cached(["not", "hashable"], lambda connection: calls.append(1) or 7) == 7
    assert len(calls) == 2
    reader.close()
