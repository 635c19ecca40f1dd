"""Ingest: files land in their partitions, replace exactly their days, and re-ingesting changes nothing."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import ParseError
from binance_lake.core.partitions import partitions_of
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.ingest import (
    Published,
    Verified,
    _rows_per_day,
    group_for_ingest,
    ingest,
    ingest_many,
)

HOUR_MS = 3_600_000


def _zip(root: Path, file: ArchiveFile, lines: list[str]) -> Verified:
    path = root / "raw" / file.key
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(file.file_name.removesuffix(".zip") + ".csv", "\n".join(lines) + "\n")
    return Verified(file.key, file, path)


def _kline_lines(day: dt.date, close: float) -> list[str]:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    return [
        f"{start + h * HOUR_MS},{close},{close + 1},{close - 1},{close},1.5,{start + (h + 1) * HOUR_MS - 1},"
        f"10.0,3,0.5,5.0,0"
        for h in range(24)
    ]


def _daily(day: dt.date) -> ArchiveFile:
    return ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, day)


def test_daily_files_of_a_month_land_in_one_partition_and_reingest_is_idempotent(tmp_path: Path) -> None:
    items = [
        _zip(tmp_path, _daily(dt.date(2024, 1, d)), _kline_lines(dt.date(2024, 1, d), 100.0 + d))
        for d in (1, 2, 3)
    ]
    ((target, group),) = group_for_ingest(items).items()
    rows = ingest(tmp_path, target, group)
    assert sorted(rows.values()) == [24, 24, 24]
    path = tmp_path / partitions_of(items[0].file)[0].path
    first = pq.read_table(path)
    assert first.num_rows == 72
    ingest(tmp_path, target, group)
    assert pq.read_table(path).equals(first)


def test_a_reuploaded_day_replaces_only_that_day(tmp_path: Path) -> None:
    days = [
        _zip(tmp_path, _daily(dt.date(2024, 1, d)), _kline_lines(dt.date(2024, 1, d), 100.0)) for d in (1, 2)
    ]
    ((target, group),) = group_for_ingest(days).items()
    ingest(tmp_path, target, group)
    fixed = _zip(tmp_path, _daily(dt.date(2024, 1, 2)), _kline_lines(dt.date(2024, 1, 2), 200.0)[:20])
    ingest(tmp_path, target, [fixed])
    table = pq.read_table(tmp_path / target.path).to_pylist()  # type: ignore[union-attr]
    assert len(table) == 44
    assert {r["close"] for r in table if r["open_time"].day == 1} == {100.0}
    assert {r["close"] for r in table if r["open_time"].day == 2} == {200.0}


def test_a_monthly_tick_file_is_split_into_day_partitions(tmp_path: Path) -> None:
    file = ArchiveFile(Market.UM, Cadence.MONTHLY, "aggTrades", "BTCUSDT", None, dt.date(2024, 2, 1))
    start = int(dt.datetime(2024, 2, 1, tzinfo=dt.UTC).timestamp() * 1000)
    lines = [f"{i},100.5,0.1,{10 * i},{10 * i + 2},{start + i * 6 * HOUR_MS},false" for i in range(29 * 4)]
    lines.insert(5, lines[4])  # a duplicated row (issue #203) is removed
    item = _zip(tmp_path, file, lines)
    ((target, group),) = group_for_ingest([item]).items()
    rows = ingest(tmp_path, target, group)
    assert rows[item.key] == 29 * 4
    partitions = partitions_of(file)
    assert len(partitions) == 29
    for partition in partitions:
        table = pq.read_table(tmp_path / partition.path)
        assert table.num_rows == 4
        assert {t.date() for t in table["transact_time"].to_pylist()} == {partition.period}


def _mixed_batch(root: Path) -> list[Verified]:
    """Daily files of January (one with a stray row of the next day), a monthly file of February, and a
    monthly tick file: every kind of group `ingest_many` may be handed."""
    days = []
    for d in (1, 2, 3):
        lines = _kline_lines(dt.date(2024, 1, d), 100.0 + d)
        if d == 3:
            lines += _kline_lines(dt.date(2024, 1, 4), 1.0)[:2]  # not this file's day: dropped
        days.append(_zip(root, _daily(dt.date(2024, 1, d)), lines))
    february = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", "BTCUSDT", Interval.H1, dt.date(2024, 2, 1))
    month = [line for d in range(1, 30) for line in _kline_lines(dt.date(2024, 2, d), 50.0)]
    ticks = ArchiveFile(Market.UM, Cadence.MONTHLY, "aggTrades", "BTCUSDT", None, dt.date(2024, 3, 1))
    start = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)
    trades = [f"{i},100.5,0.1,{10 * i},{10 * i + 2},{start + i * 12 * HOUR_MS},false" for i in range(62)]
    return [*days, _zip(root, february, month), _zip(root, ticks, trades)]


def _published_view(published: Published) -> list[tuple[str, int, tuple[tuple[str, str, int], ...]]]:
    return sorted(
        (str(r.partition.path), r.rows, tuple((d.day.isoformat(), d.upstream_ref, d.rows) for d in r.days))
        for r in published
    )


def test_ingest_many_writes_and_reports_what_ingest_does_group_by_group(tmp_path: Path) -> None:
    items = _mixed_batch(tmp_path / "zips")
    groups = list(group_for_ingest(items).items())
    one, many = tmp_path / "one", tmp_path / "many"
    alone: list[Published] = [[] for _ in groups]
    expected = [ingest(one, t, g, p) for (t, g), p in zip(groups, alone, strict=True)]
    together: list[Published] = [[] for _ in groups]
    assert ingest_many(many, groups, together) == expected
    assert [_published_view(p) for p in together] == [_published_view(p) for p in alone]
    files = sorted(p.relative_to(one) for p in one.rglob("*.parquet"))
    assert len(files) == 1 + 1 + 31  # January, February, the 31 days of March
    assert files == sorted(p.relative_to(many) for p in many.rglob("*.parquet"))
    for name in files:
        assert pq.read_table(many / name).equals(pq.read_table(one / name))
    january = next(p for p in together if p)[0]
    assert [(d.day.day, d.rows) for d in january.days] == [(1, 24), (2, 24), (3, 24)]
    assert january.rows == 72  # the stray row of January 4 was not written


def test_a_file_that_cannot_be_parsed_fails_its_group_only(tmp_path: Path) -> None:
    items = _mixed_batch(tmp_path / "zips")
    bad = _zip(
        tmp_path / "zips", _daily(dt.date(2024, 1, 2)), [*_kline_lines(dt.date(2024, 1, 2), 1.0), "1,2,3"]
    )
    items[1] = bad
    groups = list(group_for_ingest(items).items())
    published: list[Published] = [[] for _ in groups]
    january, february, march = ingest_many(tmp_path / "lake", groups, published)
    assert isinstance(january, ParseError) and bad.file.file_name in str(january)
    assert not published[0] and not (tmp_path / "lake" / groups[0][0].path).exists()  # type: ignore[union-attr]
    assert isinstance(february, dict) and sum(february.values()) == 29 * 24
    assert isinstance(march, dict) and sum(march.values()) == 62
    with pytest.raises(ParseError, match="line 25 has 3 fields"):
        ingest(tmp_path / "alone", *groups[0])


@settings(max_examples=60, deadline=None)
@given(
    moments=st.lists(st.integers(min_value=-3 * 86_400_000_000, max_value=40 * 86_400_000_000), max_size=60),
    day_numbers=st.sets(st.integers(min_value=0, max_value=35), max_size=36),
    with_null=st.booleans(),
)
def test_rows_per_day_counts_each_wanted_day_and_nothing_else(
    moments: list[int], day_numbers: set[int], with_null: bool
) -> None:
    """Against a count in plain Python: rows outside the wanted days are not counted, wanted days without rows
    count zero, days come back in order; with a null time (the slow path) the counts are the same."""
    origin = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    times = [origin + dt.timedelta(microseconds=m) for m in moments]
    days = [origin.date() + dt.timedelta(days=n) for n in day_numbers]
    values: list[dt.datetime | None] = [*times, None] if with_null else list(times)
    table = pa.table({"open_time": pa.array(values, pa.timestamp("us", tz="UTC"))})
    counted = _rows_per_day(table, "open_time", "the-key", days)
    expected = [(day, sum(1 for t in times if t.date() == day)) for day in sorted(days)]
    assert [(d.day, d.rows) for d in counted] == expected
    assert {d.upstream_ref for d in counted} <= {"the-key"}
