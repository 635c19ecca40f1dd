"""Day-level provenance: recording a partition's days replaces exactly those days, readers get each stored day
with its source, and after any sequence of monthly and daily ingests of one series the table covers exactly
the days the partition holds, each once, with the last writer's source and rows."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.ingest import group_for_ingest, ingest
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord
from binance_lake.storage.provenance import (
    DayRecord,
    HeldDay,
    held_days,
    held_days_of,
    held_runs_sql,
    record_days,
)
from binance_lake.storage.schema import ensure_schema
from tests.engine.test_ingest import _kline_lines, _zip

JAN = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2024, 1, 1))


def _held(
    root: Path, first: dt.date = dt.date(2024, 1, 1), last: dt.date = dt.date(2024, 1, 31)
) -> list[HeldDay]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        return held_days(
            connection,
            market="um",
            dataset="klines",
            interval="1h",
            symbols=["BTCUSDT"],
            first=first,
            last=last,
        )


def _record(root: Path, records: list[DayRecord]) -> None:
    database = LakeDatabase(root)
    ensure_schema(database)
    with database.connect() as connection:
        record_days(connection, records)


def _day(day: int, source: Provenance, ref: str, rows: int | None = 24) -> DayRecord:
    return DayRecord(JAN, dt.date(2024, 1, day), source, ref, "etag-" + ref, rows)


def test_recording_days_replaces_exactly_those_days_and_reads_them_back(tmp_path: Path) -> None:
    daily = Provenance.ARCHIVE_DAILY
    _record(tmp_path, [_day(d, daily, f"daily-{d}") for d in (1, 2, 3, 5)])
    _record(tmp_path, [_day(2, Provenance.REST, "GET /fapi/v1/klines", rows=20)])
    held = _held(tmp_path)
    assert [(h.day.day, h.source, h.upstream_ref, h.rows) for h in held] == [
        (1, daily, "daily-1", 24),
        (2, Provenance.REST, "GET /fapi/v1/klines", 20),
        (3, daily, "daily-3", 24),
        (5, daily, "daily-5", 24),
    ]
    assert held[0].etag == "etag-daily-1" and held[0].interval == "1h"
    assert [h.day.day for h in _held(tmp_path, dt.date(2024, 1, 2), dt.date(2024, 1, 3))] == [2, 3]
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        runs = connection.execute(
            f"SELECT first_day, last_day FROM ({held_runs_sql('day_provenance')}) ORDER BY 1"
        )
        assert runs.fetchall() == [(dt.date(2024, 1, 1), dt.date(2024, 1, 3)), (dt.date(2024, 1, 5),) * 2]


def test_the_last_record_of_a_day_in_one_batch_wins(tmp_path: Path) -> None:
    _record(tmp_path, [_day(1, Provenance.ARCHIVE_DAILY, "a"), _day(1, Provenance.ARCHIVE_MONTHLY, "b")])
    assert [(h.source, h.upstream_ref) for h in _held(tmp_path)] == [(Provenance.ARCHIVE_MONTHLY, "b")]


def _day_records(published: list[PartitionRecord], files: dict[str, ArchiveFile]) -> list[DayRecord]:
    # As the executor records them (engine.executor `_day_records`).
    return [
        DayRecord(
            r.partition,
            d.day,
            Provenance.of_archive(files[d.upstream_ref].cadence),
            d.upstream_ref,
            None,
            d.rows,
        )
        for r in published
        for d in r.days
    ]


# One step: the month's monthly file (every day), or one day's daily file; each with some hours per day.
STEP = st.one_of(
    st.tuples(st.just("monthly"), st.just(0), st.integers(1, 24)),
    st.tuples(st.just("daily"), st.integers(1, 31), st.integers(1, 24)),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=6))
def test_provenance_covers_exactly_the_stored_days_with_the_last_writers_source(
    steps: list[tuple[str, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        expected: dict[dt.date, tuple[Provenance, str]] = {}
        for n, (kind, day, hours) in enumerate(steps):
            if kind == "monthly":
                file = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", "BTCUSDT", Interval.H1, JAN.period)
            else:
                file = ArchiveFile(
                    Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2024, 1, day)
                )
            lines = [line for d in file.days() for line in _kline_lines(d, 100.0 + n)[:hours]]
            item = _zip(root, file, lines)
            published: list[PartitionRecord] = []
            for target, group in group_for_ingest([item]).items():
                ingest(root, target, group, published)
            _record(root, _day_records(published, {item.key: file}))
            for d in file.days():
                expected[d] = (Provenance.of_archive(file.cadence), item.key)

        table = pq.read_table(root / JAN.path)
        counts = pc.value_counts(pc.floor_temporal(table["open_time"], unit="day")).to_pylist()
        stored = {c["values"].date(): c["counts"] for c in counts}
        held = _held(root)
        assert len({h.day for h in held}) == len(held)  # each day once
        assert {h.day: h.rows for h in held} == stored  # exactly the stored days, with their rows
        assert {h.day: (h.source, h.upstream_ref) for h in held} == expected  # the last writer's


_SERIES = [
    SeriesKey(Market.UM, "klines", Interval.H1, "BTCUSDT"),
    SeriesKey(Market.UM, "klines", Interval.H1, "ETHUSDT"),
    SeriesKey(Market.UM, "klines", Interval.M1, "BTCUSDT"),
    SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT"),
    SeriesKey(Market.CM, "klines", Interval.H1, "BTCUSD_PERP"),
]


@settings(max_examples=25, deadline=None)
@given(
    stored=st.sets(st.tuples(st.sampled_from(range(len(_SERIES))), st.integers(1, 28))),
    asked=st.sets(st.sampled_from(range(len(_SERIES)))),
)
def test_held_days_of_many_series_is_held_days_of_each(stored: set[tuple[int, int]], asked: set[int]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        records = []
        for index, day in sorted(stored):
            key = _SERIES[index]
            partition = Partition(key.dataset, key.market, key.interval, key.symbol, dt.date(2024, 2, 1))
            records.append(
                DayRecord(partition, dt.date(2024, 2, day), Provenance.ARCHIVE_MONTHLY, "m", None, 1)
            )
        _record(root, records)
        series = [_SERIES[i] for i in sorted(asked)]
        first, last = dt.date(2024, 2, 3), dt.date(2024, 2, 20)
        with LakeDatabase(root).connect(read_only=True) as connection:
            together = held_days_of(connection, series, first=first, last=last)
            one_by_one = {
                key: held_days(
                    connection,
                    market=key.market.value,
                    dataset=key.dataset,
                    interval=key.interval.value if key.interval else None,
                    symbols=[key.symbol],
                    first=first,
                    last=last,
                )
                for key in series
            }
    assert together == one_by_one
    assert sum(len(days) for days in together.values()) == len(
        {(i, d) for i, d in stored if i in asked and 3 <= d <= 20}
    )
