"""The typed reads of `day_provenance` the exporters use: a fingerprint of stored days that changes exactly
when a day in the span is written again (or its rows change), first held days, and last days with rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import (
    DayRecord,
    DaysWanted,
    day_fingerprints,
    first_held_days,
    has_day_provenance,
    last_days_with_rows,
    record_days,
)
from binance_lake.storage.schema import ensure_schema

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _partition(symbol: str) -> Partition:
    return Partition("klines", Market.UM, Interval.H1, symbol, dt.date(2024, 1, 1))


def _write(root: Path, symbol: str, days: range, *, rows: int = 24, at: dt.datetime = T0) -> None:
    records = [
        DayRecord(_partition(symbol), dt.date(2024, 1, d), Provenance.ARCHIVE_MONTHLY, "k", None, rows)
        for d in days
    ]
    database = LakeDatabase(root)
    ensure_schema(database)
    with database.connect() as connection:
        record_days(connection, records, now=at)


def _fingerprints(root: Path, first: int, last: int) -> dict[str, str]:
    wanted = [DaysWanted(s, dt.date(2024, 1, first), dt.date(2024, 1, last)) for s in ("AAAUSDT", "BBBUSDT")]
    with LakeDatabase(root).connect(read_only=True) as connection:
        return day_fingerprints(connection, market="um", dataset="klines", interval="1h", wanted=wanted)


def test_fingerprint_changes_only_with_the_days_in_its_span(tmp_path: Path) -> None:
    _write(tmp_path, "AAAUSDT", range(1, 11))
    _write(tmp_path, "BBBUSDT", range(1, 11))
    before = _fingerprints(tmp_path, 1, 5)
    assert before == _fingerprints(tmp_path, 1, 5)  # stable
    assert before["AAAUSDT"] != _fingerprints(tmp_path, 1, 6)["AAAUSDT"]  # one more day
    _write(tmp_path, "AAAUSDT", range(8, 9), at=T0 + dt.timedelta(hours=1))  # outside the span
    assert _fingerprints(tmp_path, 1, 5) == before
    _write(tmp_path, "AAAUSDT", range(3, 4), at=T0 + dt.timedelta(hours=1))  # the same rows, written again
    after = _fingerprints(tmp_path, 1, 5)
    assert after["AAAUSDT"] != before["AAAUSDT"] and after["BBBUSDT"] == before["BBBUSDT"]


def test_first_and_last_days(tmp_path: Path) -> None:
    _write(tmp_path, "AAAUSDT", range(3, 20))
    _write(tmp_path, "BBBUSDT", range(1, 32))
    _write(tmp_path, "BBBUSDT", range(12, 32), rows=0)  # delisted on the 11th: its month records 0 rows after
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        assert has_day_provenance(connection)
        firsts = first_held_days(
            connection,
            market="um",
            dataset="klines",
            interval="1h",
            symbols=["AAAUSDT", "BBBUSDT", "CCCUSDT"],
            first=dt.date(2024, 1, 2),
            last=dt.date(2024, 1, 31),
        )
        lasts = last_days_with_rows(
            connection,
            market="um",
            dataset="klines",
            interval="1h",
            symbols=["AAAUSDT", "BBBUSDT"],
            last=dt.date(2024, 1, 31),
        )
    assert firsts == {"AAAUSDT": dt.date(2024, 1, 3), "BBBUSDT": dt.date(2024, 1, 2)}
    assert lasts == {"AAAUSDT": dt.date(2024, 1, 19), "BBBUSDT": dt.date(2024, 1, 11)}


def test_a_lake_without_day_provenance(tmp_path: Path) -> None:
    LakeDatabase(tmp_path).ensure_schema(["CREATE TABLE IF NOT EXISTS t (x INTEGER)"])
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        assert not has_day_provenance(connection)
