"""A damaged partition (bytes flipped in a test copy, size and mtime kept, so no stat can see it) is found by
`check` and rebuilt by `sync --repair`, which re-fetches exactly that partition; `health` exits 0 on a fresh
lake, 1 on a stale one, 2 on a failing one — through the API and the command line."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow.parquet as pq

from binance_lake.core.timerange import UTC
from binance_lake.lake import Lake
from binance_lake.quality.health import Verdict, parse_age
from binance_lake.sim.server import SimServer
from tests.cli.runner import run_cli

SERIES = "tables/klines/market=um/interval=1h/symbol={symbol}/2024-0{month}.parquet"


def flip_bytes(path: Path) -> None:
    """Corrupt the middle of the file (its data pages) and keep its size and mtime."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_damaged_partition_is_found_by_check_and_rebuilt_by_sync_repair(
    sim_server: SimServer, tmp_path: Path
) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    kwargs = {
        "datasets": "klines",
        "intervals": "1h",
        "symbols": "BTCUSDT,ETHUSDT",
        "start": "2024-01-01",
        "end": "2024-02-29",
    }
    assert lake.sync(**kwargs).ok  # type: ignore[arg-type]
    damaged = tmp_path / SERIES.format(symbol="ETHUSDT", month=2)
    intact = tmp_path / SERIES.format(symbol="BTCUSDT", month=2)
    before = pq.read_table(damaged)
    intact_mtime = intact.stat().st_mtime_ns
    flip_bytes(damaged)

    # A plain sync's stat check cannot see it.
    assert lake.sync(**kwargs).plan.is_empty  # type: ignore[arg-type]

    report = lake.check(now=sim_server.universe.clock.now(), end="2024-02-29", deep=True)
    bad = [f for f in report.findings.to_pylist() if f["severity"] == "error"]
    assert [(f["rule"], f["ref"]) for f in bad] == [
        ("partition_damaged", "tables/klines/market=um/interval=1h/symbol=ETHUSDT/2024-02.parquet")
    ]
    assert "--repair" in bad[0]["repair"] and "--symbols ETHUSDT" in bad[0]["repair"]
    assert (
        lake.health(now=sim_server.universe.clock.now(), max_age=dt.timedelta(days=3650)).verdict
        is Verdict.FAILING
    )

    repaired = lake.sync(**kwargs, repair=True)  # type: ignore[arg-type]
    assert repaired.ok
    assert list(repaired.lost_partitions) == [
        "tables/klines/market=um/interval=1h/symbol=ETHUSDT/2024-02.parquet"
    ]
    assert [p.key for p in repaired.plan.fetch] == [
        "data/futures/um/monthly/klines/ETHUSDT/1h/ETHUSDT-1h-2024-02.zip"
    ]
    assert pq.read_table(damaged).equals(before)
    assert intact.stat().st_mtime_ns == intact_mtime  # exactly the damaged one was rebuilt
    assert (
        tmp_path / "damaged" / SERIES.format(symbol="ETHUSDT", month=2)
    ).exists()  # set aside, not deleted
    again = lake.check(now=sim_server.universe.clock.now(), end="2024-02-29")
    assert not [f for f in again.findings.to_pylist() if f["severity"] == "error"]


def test_a_changed_raw_zip_is_named_with_what_to_do(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    assert lake.sync(
        datasets="klines", intervals="1d", symbols="BTCUSDT", start="2024-01-01", end="2024-01-31"
    ).ok
    (raw,) = (tmp_path / "raw").rglob("*.zip")
    raw.write_bytes(raw.read_bytes()[:-10] + b"0123456789")
    report = lake.check(now=sim_server.universe.clock.now(), end="2024-01-31")
    (finding,) = [f for f in report.findings.to_pylist() if f["severity"] == "error"]
    assert finding["rule"] == "raw_hash" and finding["ref"] == raw.relative_to(tmp_path / "raw").as_posix()
    assert finding["repair"].startswith("delete raw/")


def test_health_is_0_fresh_1_stale_2_failing(make_sim: object, tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    server = make_sim(now=now)  # type: ignore[operator]
    fresh = tmp_path / "fresh"
    lake = Lake(settings=server.settings(fresh))
    report = lake.sync(
        datasets="klines", intervals="1d", symbols="BTCUSDT", start="2026-11-15", end="2026-11-19"
    )
    assert report.ok
    assert lake.health(now=now).code == 0
    stale = lake.health(now=now + dt.timedelta(days=5))
    assert stale.code == 1 and "older than 2d" in stale.line()
    assert lake.health(now=now + dt.timedelta(days=5), max_age=dt.timedelta(days=7)).code == 0

    # The command line: the real clock is later than the simulator's, so with the default age it is stale.
    root = ["--root", str(fresh)]
    assert run_cli("health", *root).returncode == 1
    ok = run_cli("health", *root, "--max-age", "3650d")
    assert ok.returncode == 0 and ok.stdout.startswith("healthy"), ok.stdout + ok.stderr
    looped = run_cli("health", *root, "--max-age", "3650d", "--continuous", "1", "--rounds", "2")
    assert looped.returncode == 0 and len(looped.stdout.strip().splitlines()) == 2
    assert run_cli("health", *root, "--max-age", "soon").returncode == 2

    empty = tmp_path / "empty"
    empty.mkdir()
    assert Lake(empty).health().code == 2
    assert run_cli("health", "--root", str(empty)).returncode == 2


def test_a_lake_whose_last_sync_failed_is_failing(make_sim: object, tmp_path: Path) -> None:
    server = make_sim(faults="5xx=1.0@/data/*.zip")  # type: ignore[operator]
    lake = Lake(settings=server.settings(tmp_path))
    lake.catalog.refresh(markets="um", datasets="klines", intervals="1d", symbols="BTCUSDT")
    report = lake.sync(
        datasets="klines",
        intervals="1d",
        symbols="BTCUSDT",
        start="2024-01-01",
        end="2024-01-31",
        refresh=False,
    )
    assert not report.ok
    health = lake.health(max_age=dt.timedelta(days=3650))
    assert health.code == 2 and "failed" in health.line()


def test_max_age_spellings() -> None:
    assert parse_age("2d") == dt.timedelta(days=2)
    assert parse_age("36h") == dt.timedelta(hours=36)
    assert parse_age("90m") == dt.timedelta(minutes=90)
    assert parse_age("3") == dt.timedelta(days=3)
