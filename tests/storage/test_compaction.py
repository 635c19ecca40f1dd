"""Compacted years (`storage.compaction`, `Lake.compact`, `binance-lake compact`) over a lake synced from the
simulator: a load reads the same rows with or without them, uses them only while every partition they stand
for is unchanged (a rewritten, lost or later-filled month is read from the partitions), publication is
atomic, and the lake's other consumers (the check, cleanup) see the partitions as before."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from binance_lake.cli.app import app
from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.load import reader
from binance_lake.load.reader import load_table
from binance_lake.load.request import build_request
from binance_lake.sim.server import SimServer
from binance_lake.storage import compaction
from binance_lake.storage.compaction import Compacted, compact_series, compacted_path, open_compacted
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, record_partitions, stat_of
from binance_lake.storage.parquet import read_partition, write_table_atomic
from tests.cli.runner import assert_one_sentence, run_cli
from tests.engine.test_sync_sim import lake_on, series_dir

START, END = "2023-03-01", "2023-08-31"  # six closed months
TODAY = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def pristine(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    lake = lake_on(sim_server, root)
    assert lake.sync(
        datasets="klines,fundingRate", intervals="1h", symbols="BTCUSDT,ETHUSDT", start=START, end=END
    ).ok
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the pristine lake (times preserved, as the records expect)."""
    return Path(shutil.copytree(pristine, tmp_path / "lake"))


def _load(root: Path, start: str = START, end: str = END) -> pa.Table:
    table: pa.Table = Lake(root).load(
        "klines", ["BTCUSDT", "ETHUSDT"], start, end, interval="1h", as_="arrow"
    )
    return table


def _klines(root: Path, symbol: str = "BTCUSDT") -> Path:
    return series_dir(root, "klines", "um", symbol, "1h")


def _compact(root: Path, **options: object) -> compaction.CompactReport:
    return compaction.compact_lake(root, ["klines", "fundingRate"], today=TODAY, **options)  # type: ignore[arg-type]


def _sources_read(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the reader reads (partition paths or compacted years), recorded."""
    seen: list[object] = []
    original = reader._read_file

    def spy(source: Path | Compacted, *args: object) -> pa.Table:
        seen.append(source)
        return original(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_read_file", spy)
    return seen


def test_a_compacted_year_loads_the_same_rows_from_one_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _load(root)
    report = _compact(root)
    assert report.written == 4  # klines and funding of two symbols, one year each
    assert report.rows == before.num_rows + read_rows(root, "fundingRate")
    target = compacted_path(_klines(root) / "2023-03.parquet")
    assert target is not None and target.exists()
    assert target.is_relative_to(root / "compacted")
    seen = _sources_read(monkeypatch)
    after = _load(root)
    assert after.equals(before)
    assert all(isinstance(s, Compacted) for s in seen) and len(seen) == 2


def read_rows(root: Path, dataset: str) -> int:
    return sum(
        partition.num_rows
        for path in sorted((root / "tables" / dataset).rglob("*.parquet"))
        if (partition := read_partition(path)) is not None
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(0, 183), length=st.integers(0, 183))
def test_any_range_reads_the_same_rows_as_the_partitions(pristine: Path, first: int, length: int) -> None:
    """The invariant, over ranges inside and across the compacted months: the rows are the partitions'."""
    root = pristine.parent / "compacted-copy"
    if not root.exists():
        shutil.copytree(pristine, root)
        _compact(root)
    start = dt.date(2023, 3, 1) + dt.timedelta(days=first)
    end = min(start + dt.timedelta(days=length), dt.date(2023, 8, 31))
    if end < start:
        return
    got = _load(root, str(start), str(end))
    whole = _load(pristine)
    times = whole.column("open_time")
    lo = pa.scalar(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC), times.type)
    hi_day = end + dt.timedelta(days=1)
    hi = pa.scalar(dt.datetime(hi_day.year, hi_day.month, hi_day.day, tzinfo=dt.UTC), times.type)
    expected = whole.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))
    assert got.equals(expected)


def _rewrite_month(root: Path, month: dt.date, keep_days: int) -> pa.Table:
    """Rewrite BTCUSDT's month with only its first `keep_days` days and record it, as a writer does."""
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", month)
    path = root / partition.path
    table = read_partition(path)
    assert table is not None
    cut = pa.scalar(
        dt.datetime(month.year, month.month, 1 + keep_days, tzinfo=dt.UTC), pa.timestamp("us", "UTC")
    )
    smaller = table.filter(pc.less(table.column("open_time"), cut))
    write_table_atomic(path, smaller)
    stamp = stat_of(path)
    assert stamp is not None
    with LakeDatabase(root).connect() as connection:
        record_partitions(connection, [PartitionRecord(partition, smaller.num_rows, *stamp)])
    return smaller


def test_a_rewritten_month_is_read_from_its_partitions_until_the_next_compact(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REST or stream day merged into a compacted month, or a re-uploaded month, rewrites its partition:
    the compacted year no longer stands for it."""
    _compact(root)
    smaller = _rewrite_month(root, dt.date(2023, 5, 1), keep_days=10)
    seen = _sources_read(monkeypatch)
    may = (pc.field("symbol") == "BTCUSDT") & (pc.month(pc.field("open_time")) == 5)
    got = _load(root).filter(may)
    assert got.num_rows == smaller.num_rows
    assert got.drop_columns(["symbol"]).equals(smaller.select(got.column_names[1:]))
    assert [s.path.parent.name for s in seen if isinstance(s, Compacted)] == ["symbol=ETHUSDT"]
    report = _compact(root)
    assert report.written == 1 and report.current == 3
    seen.clear()
    again = _load(root)
    assert again.filter(may).equals(got)
    assert sum(isinstance(s, Compacted) for s in seen) == 2


def test_a_lost_partition_is_missing_not_served_from_the_compacted_year(root: Path) -> None:
    whole = load_table(root, build_request("klines", "BTCUSDT", START, END, interval="1h")).table
    _compact(root)
    (_klines(root) / "2023-06.parquet").unlink()
    loaded = load_table(root, build_request("klines", "BTCUSDT", START, END, interval="1h"))
    assert loaded.table.equals(whole.filter(pc.month(pc.field("open_time")) != 6))
    assert [(g.first_day, g.last_day) for g in loaded.missing.gaps] == [
        (dt.date(2023, 6, 1), dt.date(2023, 6, 30))
    ]


def test_months_outside_the_compacted_span_are_read_beside_it(root: Path) -> None:
    """A year compacted from March .. May, then June .. August arriving: both are read, in order."""
    whole = _load(root)
    moved = root.parent / "later"
    moved.mkdir()
    for name in ("2023-06.parquet", "2023-07.parquet", "2023-08.parquet"):
        (_klines(root) / name).rename(moved / name)
    compact_series(_klines(root), today=TODAY)
    for name in ("2023-06.parquet", "2023-07.parquet", "2023-08.parquet"):
        (moved / name).rename(_klines(root) / name)
    compacted = open_compacted(compacted_path(_klines(root) / "2023-03.parquet"))  # type: ignore[arg-type]
    assert compacted is not None and sorted(compacted.sources) == [
        "2023-03.parquet",
        "2023-04.parquet",
        "2023-05.parquet",
    ]
    assert _load(root).equals(whole)


def test_a_month_filled_inside_the_compacted_span_is_read_from_the_partitions(root: Path) -> None:
    whole = _load(root)
    hole = _klines(root) / "2023-05.parquet"
    aside = root.parent / "2023-05.parquet"
    hole.rename(aside)
    compact_series(_klines(root), today=TODAY)
    aside.rename(hole)
    target = compacted_path(hole)
    assert target is not None
    compacted = open_compacted(target)
    assert compacted is not None and "2023-05.parquet" not in compacted.sources
    assert _load(root).equals(whole)


def test_compact_is_incremental_and_force_rewrites(root: Path) -> None:
    first = _compact(root)
    again = _compact(root)
    assert (again.written, again.current) == (0, first.written)
    forced = _compact(root, force=True)
    assert forced.written == first.written


def test_only_closed_months_are_compacted(root: Path) -> None:
    """A month not over yet still changes every day: it stays out of the year file."""
    compact_series(_klines(root), today=dt.date(2023, 8, 15))
    target = compacted_path(_klines(root) / "2023-03.parquet")
    assert target is not None
    compacted = open_compacted(target)
    assert compacted is not None and "2023-08.parquet" not in compacted.sources
    assert len(compacted.sources) == 5


def test_a_failed_write_leaves_the_previous_year_and_no_temporary(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compact(root)
    target = compacted_path(_klines(root) / "2023-03.parquet")
    assert target is not None
    before = target.read_bytes()
    _rewrite_month(root, dt.date(2023, 4, 1), keep_days=3)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(compaction.ipc, "new_file", broken)
    with pytest.raises(StorageError, match=r"cannot write the compacted year .* disk full"):
        _compact(root)
    assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


def test_a_damaged_compacted_file_is_ignored(root: Path) -> None:
    whole = _load(root)
    _compact(root)
    target = compacted_path(_klines(root) / "2023-03.parquet")
    assert target is not None
    target.write_bytes(b"not arrow")
    assert _load(root).equals(whole)


def test_the_check_and_cleanup_after_compaction(root: Path) -> None:
    lake = Lake(root)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def findings() -> list[str]:
        report = lake.check(market="um", datasets="klines", start=START, end=END, deep=True, now=now)
        return sorted(report.findings.column("message").to_pylist())

    before = findings()
    _compact(root)
    assert findings() == before  # the deep check reads the partitions, and sees no stray file
    assert lake.cleanup(dry_run=True).freed == ()  # every compacted year has its partitions
    for path in sorted(_klines(root, "ETHUSDT").iterdir()):
        path.unlink()
    stray = compacted_path(_klines(root, "ETHUSDT") / "2023-03.parquet")
    assert stray is not None and stray.exists()
    (stray.parent / f".{stray.name}.1.0123abcd.tmp").write_bytes(b"partial")
    freed = lake.cleanup()
    assert sorted(f.why for f in freed.freed) == ["compacted year without partitions", "stale temporary"]
    assert not stray.exists()


def test_lake_compact_refuses_daily_datasets_and_unknown_codecs(root: Path) -> None:
    lake = Lake(root)
    with pytest.raises(UsageError, match="aggTrades is stored a file a day"):
        lake.compact(datasets="aggTrades")
    with pytest.raises(UsageError, match="compression must be one of none, lz4, zstd"):
        lake.compact(compression="snappy")
    report = lake.compact(datasets="klines", compression="zstd")
    assert report.written == 2


def test_the_compact_command(root: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["compact", "--root", str(root), "--datasets", "klines", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["written"] == 2
    again = runner.invoke(app, ["compact", "--root", str(root)])
    assert again.exit_code == 0, again.output
    assert "compacted 2 years" in again.output and "2 already current" in again.output
    bad = run_cli("compact", "--root", str(root), "--compression", "snappy")
    assert_one_sentence(bad, 2, "compression must be one of none, lz4, zstd")


def test_the_daemon_job_compacts_what_changed(root: Path) -> None:
    from binance_lake.ops.jobs import JOBS
    from binance_lake.ops.metrics import Metrics
    from binance_lake.ops.schedule import JOB_ORDER

    assert JOB_ORDER.index("update") < JOB_ORDER.index("compact") < JOB_ORDER.index("check")
    lake = Lake(root)
    first = JOBS["compact"](lake, lambda event: None, Metrics())
    assert first["written"] == 4
    assert JOBS["compact"](lake, lambda event: None, Metrics())["current"] == 4


def test_sync_repair_after_compaction_and_the_load_after_it(sim_server: SimServer, root: Path) -> None:
    """Bit rot in a compacted month: `sync --repair` rebuilds the partition from its kept zip (a new file),
    so the load reads the rebuilt partition, and the next compact rewrites just that year."""
    from tests.quality.test_repair_health_sim import flip_bytes

    lake = lake_on(sim_server, root)
    whole = _load(root)
    _compact(root)
    flip_bytes(_klines(root) / "2023-05.parquet")
    repaired = lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT,ETHUSDT", start=START, end=END, repair=True
    )
    assert repaired.ok
    assert list(repaired.lost_partitions) == [
        "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2023-05.parquet"
    ]
    assert _load(root).equals(whole)
    again = _compact(root)
    assert (again.written, again.current) == (1, 3)
    assert _load(root).equals(whole)
