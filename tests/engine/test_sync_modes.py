"""`sync --rebuild` and `sync --from-scratch` (engine/plan.py `SyncMode`, `plan_rebuild`) against the simulator:
a rebuild re-ingests the held files from their kept raw zips with the server gone (it asks upstream nothing),
reports the files it cannot rebuild, refuses changed zips; a from-scratch sync plans every file again; the
lake's rows are the same afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.engine.archive_source import RAW_DIR
from binance_lake.engine.plan import CatalogFile, Reason, SyncMode, plan_rebuild
from binance_lake.engine.state import FileStatus, RecordedFile
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer

REQUEST = {
    "market": "um",
    "datasets": "klines",
    "symbols": "BTCUSDT,ETHUSDT",
    "intervals": "1h",
    "start": "2026-10-28",
    "end": "2026-11-03",
}


def rows(lake: Lake) -> pa.Table:
    table: pa.Table = lake.load(
        "klines", "BTCUSDT,ETHUSDT", "2026-10-28", "2026-11-03", interval="1h", as_="arrow"
    )
    return table


def test_rebuild_reingests_kept_zips_without_the_server(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim()
    lake = Lake(settings=server.settings(tmp_path / "lake"))
    first = lake.sync(**REQUEST)
    assert first.ok and first.execution is not None and first.execution.ingested > 0
    before = rows(lake)
    # a partition lost on disk is rebuilt too, from the same zips
    partition = next((tmp_path / "lake" / "tables").rglob("*.parquet"))
    partition.unlink()
    server.stop()  # nothing may be asked upstream: a request would fail to connect
    rebuilt = lake.sync(**REQUEST, rebuild=True)
    assert rebuilt.ok and rebuilt.execution is not None, rebuilt.summary()
    assert rebuilt.refresh is None
    assert {p.reason for p in rebuilt.plan.fetch} == {Reason.REBUILD}
    assert rebuilt.execution.ingested == first.execution.ingested
    assert rebuilt.execution.bytes == 0
    assert rebuilt.summary()["mode"] == "rebuild" and rebuilt.summary()["rebuild_without_raw"] == []
    assert rows(lake).equals(before)


def test_rebuild_names_what_it_cannot_rebuild(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    first = lake.sync(**REQUEST, keep_raw=False)
    assert first.ok
    report = lake.sync(**REQUEST, rebuild=True)
    assert report.plan.fetch == ()
    assert sorted(report.summary()["rebuild_without_raw"]) == sorted(p.key for p in first.plan.fetch)


def test_a_changed_raw_zip_is_not_downloaded_by_a_rebuild(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    assert lake.sync(**REQUEST).ok
    zips = sorted((tmp_path / "lake" / RAW_DIR).rglob("*.zip"))
    zips[0].write_bytes(b"not the bytes that were ingested")
    report = lake.sync(**REQUEST, rebuild=True)
    assert report.execution is not None and report.execution.bytes == 0
    failed = [f for f in report.execution.failures if not f.quarantined]
    assert len(failed) == 1 and "without --rebuild downloads it again" in failed[0].error
    assert lake.sync(**REQUEST).ok  # and a normal sync mends it


def test_from_scratch_plans_every_file_again(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    first = lake.sync(**REQUEST)
    before = rows(lake)
    assert lake.sync(**REQUEST).plan.fetch == ()  # resumed: nothing left to do
    again = lake.sync(**REQUEST, from_scratch=True)
    assert again.ok and {p.reason for p in again.plan.fetch} == {Reason.NEW}
    assert {p.key for p in again.plan.fetch} == {p.key for p in first.plan.fetch}
    assert again.summary()["mode"] == "from-scratch"
    assert rows(lake).equals(before)
    dry = lake.sync(**REQUEST, from_scratch=True, dry_run=True)
    assert len(dry.plan.fetch) == len(first.plan.fetch)


def test_both_modes_at_once_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        SyncMode.of(rebuild=True, from_scratch=True)
    assert SyncMode.of() is SyncMode.RESUME


def test_plan_rebuild_takes_only_ingested_files_in_range() -> None:
    from binance_lake.core.archive import ArchiveFile
    from binance_lake.core.vocabulary import Cadence, Interval, Market

    def entry(day: int) -> CatalogFile:
        file = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2026, 11, day))
        return CatalogFile(file.key, file, 10, "e")

    files = [entry(d) for d in (1, 2, 3, 4, 5)]
    state = {
        files[0].key: RecordedFile(files[0].key, FileStatus.INGESTED, "e", 10, 1, "aa"),
        files[1].key: RecordedFile(files[1].key, FileStatus.INGESTED, "e", 10, 1, "bb"),
        files[2].key: RecordedFile(files[2].key, FileStatus.FAILED, "e", 10, 1, None),
        files[4].key: RecordedFile(files[4].key, FileStatus.INGESTED, "e", 10, 1, "ee"),
    }
    plan, without = plan_rebuild(
        files, state, dt.date(2026, 11, 1), dt.date(2026, 11, 4), lambda k: k != files[1].key
    )
    assert [(p.key, p.sha256) for p in plan.fetch] == [(files[0].key, "aa")]
    assert without == (files[1].key,)


def test_cli_refuses_both_modes_in_one_sentence(tmp_path: Path) -> None:
    from tests.cli.runner import assert_one_sentence, run_cli

    done = run_cli(
        "sync", "--intervals", "1h", "--symbols", "BTCUSDT", "--start", "2024-01-01", "--rebuild", "--from-scratch",
        env={"BINANCE_LAKE_ROOT": str(tmp_path / "lake")},
    )  # fmt: skip
    assert_one_sentence(done, 2, "--rebuild", "--from-scratch", "not both")
