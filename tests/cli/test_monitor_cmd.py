"""`binance-lake monitor`: what it shows, that it leaves the database alone while a run writes, and a real
sync watched from another process."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from binance_lake.cli import monitor_cmd
from binance_lake.cli.monitor_cmd import Dashboard, LakeFacts, render
from binance_lake.lake import Lake
from binance_lake.ops.live import LiveRun, LiveStatus
from binance_lake.sim.server import SimServer
from tests.cli.runner import cli_env, run_cli

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def text_of(renderable: object) -> str:
    console = Console(record=True, width=200)
    console.print(renderable)
    return console.export_text()


def test_render_shows_runs_the_daemon_and_freshness() -> None:
    sync = LiveRun(
        kind="sync", pid=11, started_at="a", updated_at="b", phase="sync", done=3, total=10,
        bytes_done=5_000_000, rate_bytes_s=2_000_000, eta_s=90, failures=1, rows=1234,
    )  # fmt: skip
    daemon = LiveRun(
        kind="daemon", pid=12, started_at="a", updated_at="a",
        extra={"schedule": [{"job": "update", "cron": "0 2 * * *", "next": "2026-12-02T02:00:00+00:00"}],
               "current_job": None},
    )  # fmt: skip
    facts = LakeFacts(read_at=NOW, freshness=[("um/klines/1h", dt.date(2026, 11, 29), 2)])
    shown = text_of(render([sync, daemon], facts, NOW))
    assert "sync" in shown and "3/10" in shown and "5.0" in shown and "2.0" in shown and "1,234" in shown
    assert "daemon (pid 12, running)" in shown and "0 2 * * *" in shown and "2026-12-02 02:00" in shown
    # The newest day is 2026-11-29: its end is 36 h before NOW.
    assert "um/klines/1h" in shown and "2026-11-29" in shown and "36.0 h" in shown
    assert "supervised stream" not in shown  # this daemon runs none


def test_render_shows_the_daemons_supervised_stream() -> None:
    def daemon(stream: dict[str, object]) -> LiveRun:
        return LiveRun(kind="daemon", pid=12, started_at="a", updated_at="a", extra={"stream": stream})

    running = {"state": "running", "pid": 99, "restarts": 2, "last_exit": -9, "next_start_in": None}
    shown = text_of(render([daemon(running)], LakeFacts(read_at=NOW), NOW))
    assert "supervised stream: running (pid 99), 2 restarts" in shown
    waiting = {"state": "waiting", "pid": None, "restarts": 3, "last_exit": 1, "next_start_in": 4.0}
    shown = text_of(render([daemon(waiting)], LakeFacts(read_at=NOW), NOW))
    assert "supervised stream: waiting (restart in 4.0 s, last exit 1), 3 restarts" in shown


def test_the_database_is_not_read_while_a_run_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path / "lake")
    reads: list[float] = []

    def counting(lake: Lake) -> LakeFacts:
        reads.append(time.monotonic())
        return LakeFacts(read_at=NOW)

    monkeypatch.setattr(monitor_cmd, "read_facts", counting)
    dashboard = Dashboard(lake)
    dashboard.frame()
    assert len(reads) == 1  # nothing runs: the database is read
    with LiveStatus(lake.root, "sync").running():
        dashboard.frame()
        dashboard.frame()
        assert len(reads) == 1  # a sync is writing: only its live file is read
    dashboard.frame()
    assert len(reads) == 2


def test_monitor_watches_a_sync_in_another_process(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(faults="stall=1.0,stall_seconds=1@*.zip")
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path / "lake")}
    output = tmp_path / "sync.out"
    with output.open("wb") as handle:
        sync = subprocess.Popen(
            [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "sync", "--datasets",
             "klines", "--intervals", "1h", "--symbols", "BTCUSDT,ETHUSDT", "--start", "2026-11-10",
             "--end", "2026-11-18", "--concurrency", "2"],
            env=cli_env(env), stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        live_dir = tmp_path / "lake" / ".live"
        deadline = time.monotonic() + 60
        while not (live_dir.is_dir() and any(live_dir.glob("sync-*.json"))):
            assert time.monotonic() < deadline and sync.poll() is None, output.read_text()
            time.sleep(0.05)
        watched = run_cli("monitor", "--for", "2", "--refresh", "0.5", env=env)
        assert watched.returncode == 0, watched.stderr
        assert "sync" in watched.stdout and "running" in watched.stdout, watched.stdout
        assert f"{sync.pid}" in watched.stdout
        assert sync.wait(timeout=120) == 0, output.read_text()
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait()
    after = run_cli("monitor", "--for", "0", env=env)
    assert "ok" in after.stdout and "um/klines/1h" in after.stdout, after.stdout
