"""LakeState: answers are cached while lake.duckdb is unchanged and settled, and asked again after a write."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from binance_lake.core.vocabulary import Interval
from binance_lake.load import connection
from binance_lake.load.connection import Cursor, LakeState, clear_cache, signature
from tests.load.lakes import LakeBuilder, bars

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def age(root: Path, seconds: float) -> None:
    """Make the database files look last written `seconds` ago."""
    then = time.time() - seconds
    for path in signature(root):
        if path is not None:
            os.utime(path[0], (then, then))


def count_states(calls: list[int]) -> Callable[[Cursor, str | None, frozenset[str]], int]:
    def ask(handle: Cursor, alias: str | None, tables: frozenset[str]) -> int:
        calls.append(1)
        assert alias is not None and "file_state" in tables
        row = handle.execute(f"SELECT count(*) FROM {alias}.file_state").fetchone()
        assert row is not None
        return int(row[0])

    return ask


def test_answers_are_cached_until_the_database_changes(tmp_path: Path) -> None:
    clear_cache()
    b = LakeBuilder(tmp_path)
    b.put("klines", "BTCUSDT", bars(T0, 24, Interval.H1), T0.date(), T0.date(), interval=Interval.H1)
    b.commit()
    age(tmp_path, 10)
    calls: list[int] = []
    with LakeState(tmp_path) as state:
        assert state.ask("n", count_states(calls)) == 1
    with LakeState(tmp_path) as state:
        assert state.ask("n", count_states(calls)) == 1
    assert len(calls) == 1
    day = T0.date() + dt.timedelta(days=1)
    b.put("klines", "BTCUSDT", bars(T0, 48, Interval.H1), day, day, interval=Interval.H1)
    b.commit()
    age(tmp_path, 5)  # a different mtime (and size) than the cached answer's
    with LakeState(tmp_path) as state:
        assert state.ask("n", count_states(calls)) == 2
    assert len(calls) == 2


def test_a_database_written_just_now_is_not_cached(tmp_path: Path) -> None:
    clear_cache()
    b = LakeBuilder(tmp_path)
    b.commit()
    calls: list[int] = []
    for _ in range(2):
        with LakeState(tmp_path) as state:
            state.ask("n", count_states(calls))
    assert len(calls) == 2


def test_no_database_means_no_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "SETTLED_SECONDS", 0.0)
    with LakeState(tmp_path) as state:
        assert state.ask("none", lambda handle, alias, tables: (alias, tables)) == (None, frozenset())
