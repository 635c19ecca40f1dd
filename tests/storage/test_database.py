"""The lake database and writer lock: roots that cannot be written are one sentence, never an OSError; the
liveness check of a lock's holder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from binance_lake.core.errors import StorageError
from binance_lake.storage.database import LakeDatabase, WriterLock, process_alive
from tests.cli.runner import read_only


def test_a_root_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot create the lake directory"):
        WriterLock(tmp_path / "file" / "lake").acquire()
    with (
        pytest.raises(StorageError, match="cannot create the lake directory"),
        LakeDatabase(tmp_path / "file" / "lake").connect(),
    ):
        pass


def test_an_unwritable_lake_refuses_writers_but_not_readers(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path / "lake")
    with database.connect() as connection:
        connection.execute("CREATE TABLE t AS SELECT 42 AS answer")
    assert database.writable()
    with read_only(tmp_path / "lake"):
        assert not database.writable()
        with pytest.raises(StorageError, match="cannot write to the lake"):
            WriterLock(database.root).acquire()
        with pytest.raises(StorageError, match="not writable"), database.connect():
            pass
        with pytest.raises(StorageError, match="cannot create the lake directory"):
            WriterLock(database.root / "inner").acquire()
        with database.connect(read_only=True) as connection:
            assert connection.execute("SELECT answer FROM t").fetchall() == [(42,)]


def test_process_alive_tells_a_running_process_from_an_ended_one() -> None:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now (pids are not reused this quickly)
    assert process_alive(os.getpid())
    assert not process_alive(child.pid)
    assert not process_alive(0)  # 0 and below address process groups, never one process
    assert not process_alive(-1)
