"""`rest_reconciliations`: what is recorded reads back, oldest first, per path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.reconciliation import Reconciliation, reconciliations, record_reconciliations
from binance_lake.storage.schema import ensure_schema


def test_recorded_reconciliations_read_back(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    ensure_schema(database)
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2026, 11, 1))
    day = dt.date(2026, 11, 17)
    first = Reconciliation(partition, day, "rest-ref", "archive-key", 24, 24, 1, ("close",))
    second = Reconciliation(partition, day + dt.timedelta(days=1), "rest-ref", "archive-key", 6, 24, 0, ())
    with database.connect() as connection:
        record_reconciliations(connection, [first], now=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
        record_reconciliations(connection, [second], now=dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        record_reconciliations(connection, [])
        found = reconciliations(connection)
        assert reconciliations(connection, ["tables/other.parquet"]) == []
    assert [(r.path, r.day, r.rest_rows, r.archive_rows, r.differing_rows, r.columns) for r in found] == [
        (partition.posix, day, 24, 24, 1, ("close",)),
        (partition.posix, day + dt.timedelta(days=1), 6, 24, 0, ()),
    ]
