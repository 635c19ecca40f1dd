"""The read side's typed questions of `file_state`: ingested symbols, per-series status and problem files; a
lake without the table answers empty with the same columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import FileState, record
from binance_lake.load.status import SIZE_SCHEMA
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.schema import FileStatus
from binance_lake.storage.state_reads import ingested_symbols, problem_files, series_status

D = dt.date


def _file(symbol: str, day: int, cadence: Cadence = Cadence.DAILY) -> ArchiveFile:
    period = D(2024, 1, day) if cadence is Cadence.DAILY else D(2024, 1, 1)
    return ArchiveFile(Market.UM, cadence, "klines", symbol, Interval.H1, period)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[Connection]:
    database = LakeDatabase(tmp_path)
    ensure_catalog(database)
    with database.connect() as c:
        yield _filled(c)


def _filled(c: Connection) -> Connection:
    states = [
        FileState(_file("BTCUSDT", 1), _file("BTCUSDT", 1), FileStatus.INGESTED),
        FileState(_file("BTCUSDT", 2), _file("BTCUSDT", 2), FileStatus.INGESTED),
        FileState(_file("ETHUSDT", 1), _file("ETHUSDT", 1), FileStatus.FAILED, attempts=2, error="boom"),
        FileState(
            _file("XUSDT", 0, Cadence.MONTHLY), _file("XUSDT", 0, Cadence.MONTHLY), FileStatus.QUARANTINED
        ),
    ]
    record(c, [FileState(s.file.key, s.file, s.status, attempts=s.attempts, error=s.error) for s in states])
    return c


def test_ingested_symbols(connection: Connection) -> None:
    args = (Market.UM, "klines", "1h")
    assert ingested_symbols(connection, *args, D(2024, 1, 2), D(2024, 1, 9)) == {"BTCUSDT"}
    assert ingested_symbols(connection, *args, D(2024, 1, 3), D(2024, 1, 9)) == set()
    assert ingested_symbols(connection, Market.UM, "trades", None, D(2024, 1, 1), D(2024, 1, 9)) == set()


def test_series_status_counts_days_and_files(connection: Connection) -> None:
    sizes = pa.Table.from_pylist(
        [
            {
                "market": "um",
                "dataset": "klines",
                "interval": "1h",
                "symbol": "BTCUSDT",
                "partitions": 1,
                "bytes": 9,
            }
        ],
        schema=SIZE_SCHEMA,
    )
    rows = {r["symbol"]: r for r in series_status(connection, sizes, schema="").to_pylist()}
    assert rows["BTCUSDT"]["days_held"] == 2 and rows["BTCUSDT"]["bytes"] == 9
    assert (rows["BTCUSDT"]["first_day"], rows["BTCUSDT"]["last_day"]) == (D(2024, 1, 1), D(2024, 1, 2))
    assert rows["ETHUSDT"]["files_failed"] == 1 and rows["ETHUSDT"]["days_held"] == 0
    assert rows["XUSDT"]["files_quarantined"] == 1


def test_problem_files(connection: Connection) -> None:
    problems = problem_files(connection, schema="").to_pylist()
    assert [(p["status"], p["symbol"], p["attempts"], p["error"]) for p in problems] == [
        ("failed", "ETHUSDT", 2, "boom"),
        ("quarantined", "XUSDT", 0, None),
    ]


def test_a_lake_without_file_state_answers_empty(connection: Connection) -> None:
    empty = problem_files(connection, schema=None)
    assert empty.num_rows == 0 and empty.column_names == problem_files(connection, schema="").column_names
    status = series_status(connection, SIZE_SCHEMA.empty_table(), schema=None)
    assert status.num_rows == 0 and "days_held" in status.column_names
