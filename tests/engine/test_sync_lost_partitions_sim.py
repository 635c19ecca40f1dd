"""A held partition that is deleted or damaged after a sync: the next sync notices it (one stat per
partition against the record made at write time) and rebuilds it, from the kept raw zip without a request
upstream, or by downloading again when the zips were not kept; the lake ends up equal to what it was."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.core.timerange import UTC
from binance_lake.engine.plan import Reason
from binance_lake.engine.sync import DAMAGED_DIR, SyncReport
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage import schema
from binance_lake.storage.database import LakeDatabase
from tests.engine.test_sync_sim import all_tables, lake_on

MakeSim = Callable[..., SimServer]
NOW = dt.datetime(2024, 3, 12, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """A sync, and one partition of it to lose."""

    name: str
    sync: dict[str, str]
    partition: str


MONTHLY = Case(
    "monthly klines",
    {
        "datasets": "klines",
        "symbols": "BTCUSDT",
        "intervals": "1h",
        "start": "2024-01-01",
        "end": "2024-02-29",
    },
    "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2024-01.parquet",
)
DAILY_TICKS = Case(
    "daily aggTrades",
    {"datasets": "aggTrades", "symbols": "BTCUSDT", "start": "2024-03-01", "end": "2024-03-03"},
    "tables/aggTrades/market=um/symbol=BTCUSDT/2024-03-02.parquet",
)
CASES = pytest.mark.parametrize("case", [MONTHLY, DAILY_TICKS], ids=lambda c: c.name)


def synced(server: SimServer, root: Path, case: Case, **kwargs: object) -> tuple[Lake, dict[str, pa.Table]]:
    lake = lake_on(server, root)
    report = lake.sync(**case.sync, **kwargs)  # type: ignore[arg-type]
    assert report.ok and report.plan.fetch
    return lake, all_tables(root)


def resync(lake: Lake, server: SimServer, case: Case, **kwargs: object) -> tuple[SyncReport, int]:
    """Sync again without listing (so every request counted is a file fetch); returns the report and how
    many requests the archive saw."""
    before = server.stats.total_requests
    report = lake.sync(**case.sync, refresh=False, **kwargs)  # type: ignore[arg-type]
    return report, server.stats.total_requests - before


@CASES
def test_a_deleted_partition_is_rebuilt_from_the_kept_raw_zip_without_a_request(
    make_sim: MakeSim, tmp_path: Path, case: Case
) -> None:
    server = make_sim(now=NOW)
    lake, original = synced(server, tmp_path, case)
    (tmp_path / case.partition).unlink()
    report, requests = resync(lake, server, case)
    assert report.ok
    assert report.lost_partitions == {case.partition: "gone"}
    reasons = {p.reason for p in report.plan.fetch}
    assert reasons == {Reason.PARTITION_LOST}
    assert requests == 0
    assert all_tables(tmp_path) == original
    # And now it is held again: nothing more to do.
    again, _ = resync(lake, server, case)
    assert again.plan.is_empty and not again.lost_partitions


@CASES
def test_without_kept_raw_zips_a_lost_partition_is_downloaded_again(
    make_sim: MakeSim, tmp_path: Path, case: Case
) -> None:
    server = make_sim(now=NOW)
    lake, original = synced(server, tmp_path, case, keep_raw=False)
    (tmp_path / case.partition).unlink()
    report, _ = resync(lake, server, case, keep_raw=False)
    assert report.ok
    (planned,) = report.plan.fetch
    assert planned.reason is Reason.PARTITION_LOST
    assert server.stats.per_url[f"GET /{planned.key}"] == 2  # the first sync's download, and this one
    assert all_tables(tmp_path) == original


def _garbage(path: Path, size: int) -> None:
    before = path.stat().st_mtime_ns
    path.write_bytes(b"\0garbage" * (size // 8) + b"x" * (size % 8))
    # A real overwrite comes later than the write we recorded; make sure the clock moved on for this test
    # (a file system's timestamps can be coarser than the time between our two writes).
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


@CASES
@pytest.mark.parametrize("same_size", [True, False], ids=["same size", "other size"])
def test_a_partition_overwritten_with_garbage_is_set_aside_and_rebuilt(
    make_sim: MakeSim, tmp_path: Path, case: Case, same_size: bool
) -> None:
    server = make_sim(now=NOW)
    lake, original = synced(server, tmp_path, case)
    path = tmp_path / case.partition
    size = path.stat().st_size if same_size else 100
    _garbage(path, size)
    garbage = path.read_bytes()
    report, requests = resync(lake, server, case)
    assert report.ok and requests == 0
    assert report.lost_partitions == {case.partition: "damaged"}
    assert all_tables(tmp_path) == original
    # Nothing is deleted: the damaged file waits under damaged/ for whoever wants to look at it.
    assert (tmp_path / DAMAGED_DIR / case.partition).read_bytes() == garbage


@CASES
def test_a_touched_but_intact_partition_is_not_rebuilt(make_sim: MakeSim, tmp_path: Path, case: Case) -> None:
    server = make_sim(now=NOW)
    lake, original = synced(server, tmp_path, case)
    path = tmp_path / case.partition
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))  # e.g. copied without preserving times
    report, requests = resync(lake, server, case)
    assert report.plan.is_empty and not report.lost_partitions and requests == 0
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        (recorded,) = connection.execute(
            "SELECT mtime_ns FROM partitions WHERE path = ?", [case.partition]
        ).fetchone() or (None,)
    assert recorded == later  # the record follows, so the next sync does not even open the file
    assert all_tables(tmp_path) == original


def test_a_dry_run_reports_a_lost_partition_and_changes_nothing(make_sim: MakeSim, tmp_path: Path) -> None:
    server = make_sim(now=NOW)
    lake, _ = synced(server, tmp_path, MONTHLY)
    path = tmp_path / MONTHLY.partition
    _garbage(path, 100)
    report = lake.sync(**MONTHLY.sync, refresh=False, dry_run=True)  # type: ignore[arg-type]
    assert report.lost_partitions == {MONTHLY.partition: "damaged"}
    assert [p.reason for p in report.plan.fetch] == [Reason.PARTITION_LOST]
    assert report.summary()["lost_partitions"] == {MONTHLY.partition: "damaged"}
    assert path.stat().st_size == 100 and not (tmp_path / DAMAGED_DIR).exists()


def test_a_month_written_from_daily_files_is_rebuilt_from_all_of_them(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    # March has no monthly file yet: its partition is written from one daily file a day, over two syncs.
    server = make_sim(now=NOW)
    lake = lake_on(server, tmp_path)
    series = {"datasets": "klines", "symbols": "BTCUSDT", "intervals": "1h"}
    assert lake.sync(**series, start="2024-03-01", end="2024-03-05").ok
    assert lake.sync(**series, start="2024-03-06", end="2024-03-08").ok
    original = all_tables(tmp_path)
    partition = "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2024-03.parquet"
    (tmp_path / partition).unlink()
    # A daily update asks for one day only; the month needs all eight files back.
    report = lake.sync(**series, start="2024-03-08", end="2024-03-08", refresh=False)
    assert report.ok and report.lost_partitions == {partition: "gone"}
    assert len(report.plan.fetch) == 8
    assert {p.reason for p in report.plan.fetch} == {Reason.PARTITION_LOST}
    assert all_tables(tmp_path) == original


def test_a_lake_without_partition_records_still_notices_a_deleted_partition(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    # A lake written before partitions were recorded: the table is missing, its partitions have no record.
    server = make_sim(now=NOW)
    lake, original = synced(server, tmp_path, MONTHLY)
    with LakeDatabase(tmp_path).connect() as connection:
        connection.execute("DROP TABLE partitions")
        connection.execute("DROP TABLE schema_migrations")  # such a lake predates schema versions too
    schema._ENSURED.clear()  # as in a new process, which ensures the schema once
    (tmp_path / MONTHLY.partition).unlink()
    report, requests = resync(lake, server, MONTHLY)
    assert report.ok and report.lost_partitions == {MONTHLY.partition: "gone"} and requests == 0
    assert all_tables(tmp_path) == original
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        paths = [row[0] for row in connection.execute("SELECT path FROM partitions").fetchall()]
    assert paths == [MONTHLY.partition]  # recorded from now on
