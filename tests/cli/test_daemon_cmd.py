"""`binance-lake daemon` against the simulator, in real processes: `--once`, one daemon per lake, status,
stop, a detached start, and SIGTERM in the middle of an update."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.lake import Lake
from binance_lake.ops.daemon import log_path
from binance_lake.ops.pidfile import running_pid
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.job_runs import Outcome, last_runs
from tests.cli.runner import assert_one_sentence, cli_env, run_cli

SCHEDULE = '[schedule]\nprobe = "off"\nupdate = "0 2 * * *"\n'


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def held_lake(server: SimServer, root: Path, *, days: int = 6) -> Lake:
    """A lake holding BTCUSDT and ETHUSDT 1h klines up to a few days ago: what `update` keeps current."""
    lake = Lake(root, settings=server.settings(root))
    today = _now().date()
    lake.sync(
        datasets="klines",
        intervals="1h",
        symbols=["BTCUSDT", "ETHUSDT"],
        start=today - dt.timedelta(days=days),
        end=today - dt.timedelta(days=4),
    )
    return lake


def env_for(server: SimServer, root: Path, config: Path) -> dict[str, str]:
    config.write_text(SCHEDULE)
    return {**server.settings_env(), "BINANCE_LAKE_ROOT": str(root), "BINANCE_LAKE_CONFIG": str(config)}


def start_daemon(env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """`daemon --foreground` in its own process, its output in `output` (pipes would fill up unread)."""
    with output.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "daemon", "--foreground"],
            env=cli_env(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def job_runs(root: Path) -> dict[str, Outcome]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        return {job: run.outcome for job, run in last_runs(connection).items()}


def rows(root: Path) -> list[dict[str, object]]:
    tables = sorted((root / TABLES_DIR).rglob("*.parquet"))
    found = [row for path in tables for row in pq.read_table(path).to_pylist()]
    return sorted(found, key=lambda r: (str(r.get("open_time")), str(r)))


def test_once_runs_the_chain_and_logs_it(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    held_lake(server, root)
    before = len(rows(root))
    config = tmp_path / "binance-lake.toml"
    config.write_text('[schedule]\nprobe = "15 */6 * * *"\nupdate = "0 2 * * *"\n')
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(root), "BINANCE_LAKE_CONFIG": str(config)}
    result = run_cli("daemon", "--once", env=env)
    assert result.returncode == 0, result.stderr
    ok = Outcome.OK
    assert job_runs(root) == {"probe": ok, "update": ok, "check": ok, "report": ok}
    assert (root / "reports" / "report.html").stat().st_size > 0  # the check's report, after the update
    # The update brought the held series up to the archive's last day.
    assert len(rows(root)) > before
    events = [json.loads(line) for line in log_path(root).read_text().splitlines()]
    ends = {e["job"]: e for e in events if e["event"] == "job"}
    assert ends["update"]["outcome"] == "ok" and ends["update"]["ingested"] > 0
    assert "update ok" in result.stderr  # the readable line beside the JSON log


def test_one_daemon_per_lake_status_and_stop(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    held_lake(server, root)
    env = env_for(server, root, tmp_path / "binance-lake.toml")
    first = start_daemon(env, tmp_path / "daemon.out")
    try:
        wait_for(lambda: running_pid(root) == first.pid)
        second = run_cli("daemon", "--foreground", env=env)
        assert_one_sentence(second, 1, f"a daemon (pid {first.pid}) already runs", str(root))
        # The catch-up update of a lake that never had one runs at start; then the daemon sleeps.
        wait_for(lambda: "sleeping" in log_path(root).read_text())
        status = run_cli("daemon", "status", "--format", "json", env=env)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["running"] and shown["pid"] == first.pid
        assert [(j["job"], j["last_outcome"]) for j in shown["jobs"]] == [("update", "ok")]
        stop = run_cli("daemon", "stop", env=env)
        assert stop.returncode == 0 and f"daemon (pid {first.pid}) stopped" in stop.stdout
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert run_cli("daemon", "status", env=env).returncode == 3
    assert running_pid(root) is None


def test_detached_start(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    held_lake(server, root)
    env = env_for(server, root, tmp_path / "binance-lake.toml")
    started = run_cli("daemon", env=env)
    assert started.returncode == 0, started.stderr
    pid = running_pid(root)
    assert pid is not None and f"daemon started (pid {pid})" in started.stdout
    try:
        assert run_cli("daemon", "status", env=env).returncode == 0
    finally:
        stop = run_cli("daemon", "stop", env=env)
    assert stop.returncode == 0, stop.stderr
    assert running_pid(root) is None


def test_sigterm_mid_update_keeps_state_and_the_next_run_finishes(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    now = _now()
    # Every zip answers after 2 s: the update is still downloading when SIGTERM comes.
    slow = make_sim(now=now, faults="stall=1.0,stall_seconds=2@*.zip")
    root = tmp_path / "lake"
    clean = make_sim(now=now)
    held_lake(clean, root, days=10)
    env = env_for(slow, root, tmp_path / "binance-lake.toml")
    daemon = start_daemon(env, tmp_path / "daemon.out")
    try:
        wait_for(lambda: log_path(root).exists() and '"job-start"' in log_path(root).read_text())
        time.sleep(1.0)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, (tmp_path / "daemon.out").read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert job_runs(root) == {"update": Outcome.INTERRUPTED}
    # The next run, with the server well again, finishes the job: the lake equals an uninterrupted one.
    again = run_cli("daemon", "--once", env=env_for(clean, root, tmp_path / "binance-lake.toml"))
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "reference"
    held_lake(clean, reference, days=10)
    once = run_cli("daemon", "--once", env=env_for(clean, reference, tmp_path / "reference.toml"))
    assert once.returncode == 0, once.stderr
    assert rows(root) == rows(reference)
    assert not list((root / TABLES_DIR).rglob("*.tmp*"))


def test_once_with_a_metrics_port_serves_while_it_runs(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    held_lake(server, root)
    env = env_for(server, root, tmp_path / "binance-lake.toml")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("daemon", "--once", "--metrics-port", str(port), env=env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log_path(root).read_text().splitlines()]
    assert {"event": "metrics", "url": f"http://127.0.0.1:{port}/metrics"}.items() <= events[0].items()


def test_once_with_a_qlib_export_leaves_a_qlib_dir(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    held_lake(server, root)
    start = (_now().date() - dt.timedelta(days=6)).isoformat()
    config = tmp_path / "binance-lake.toml"
    # `start` as a TOML date, `out` relative (under the lake root): the export runs after the update.
    config.write_text(SCHEDULE + f'\n[export.qlib]\nfreq = "60min"\nout = "qlib/60min"\nstart = {start}\n')
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(root), "BINANCE_LAKE_CONFIG": str(config)}
    first = run_cli("daemon", "--once", env=env)
    assert first.returncode == 0, first.stderr
    assert list(job_runs(root)) == ["check", "export_qlib", "report", "update"]
    qlib = root / "qlib" / "60min"
    calendar = (qlib / "calendars" / "60min.txt").read_text().split("\n")
    instruments = (qlib / "instruments" / "all.txt").read_text()
    assert "BINANCE_UM.BTCUSDT\t" in instruments and "BINANCE_UM.ETHUSDT\t" in instruments
    # Every hour the lake holds after the update is a calendar line (the update reached the archive's end).
    held_hours = {row["open_time"] for row in rows(root)}
    assert len([line for line in calendar if line]) == len(held_hours)
    assert (qlib / "features" / "binance_um.btcusdt" / "close.60min.bin").stat().st_size > 0
    ends = [json.loads(line) for line in log_path(root).read_text().splitlines()]
    export = [e for e in ends if e["event"] == "job" and e["job"] == "export_qlib"]
    assert export[-1]["outcome"] == "ok" and export[-1]["rows"] == len(rows(root))
    # Incremental: a second run with nothing new writes no file again.
    again = run_cli("daemon", "--once", env=env)
    assert again.returncode == 0, again.stderr
    ends = [json.loads(line) for line in log_path(root).read_text().splitlines()]
    last = [e for e in ends if e["event"] == "job" and e["job"] == "export_qlib"][-1]
    assert last["outcome"] == "ok" and last["exports"][0]["files_written"] == 0


def test_an_export_table_with_a_bad_key_is_one_sentence(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(now=_now())
    root = tmp_path / "lake"
    config = tmp_path / "binance-lake.toml"
    config.write_text(SCHEDULE + '\n[export.qlib]\nfreq = "day"\nout = "q"\nstart = "2024-01-01"\nfrq = 1\n')
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(root), "BINANCE_LAKE_CONFIG": str(config)}
    assert_one_sentence(run_cli("daemon", "--once", env=env), 2, "unknown key 'frq' in [export.qlib]")


def _log_text(root: Path) -> str:
    return log_path(root).read_text() if log_path(root).exists() else ""


def _stream_events(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _log_text(root).splitlines() if '"event": "stream' in line] or [{}]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_daemon_supervises_a_stream(tmp_path: Path) -> None:
    # The WebSocket side moves the simulator's clock (`stream_speed`): 2 simulated seconds a second.
    with SimServer(Universe.build("small", now=_now()), stream_speed=2) as server:
        supervised_stream(server, tmp_path)


def test_a_daemon_killed_with_sigkill_takes_its_stream_with_it(tmp_path: Path) -> None:
    # Nothing in the daemon runs on SIGKILL: the kernel's parent-death signal stops the child, which would
    # otherwise keep collecting beside the next daemon's stream.
    with SimServer(Universe.build("small", now=_now()), stream_speed=2) as server:
        root = tmp_path / "lake"
        held_lake(server, root)
        config = tmp_path / "binance-lake.toml"
        env = env_for(server, root, config)
        config.write_text(
            SCHEDULE + '\n[stream]\nsymbols = "BTCUSDT"\nchannels = "markPrice@1s"\nflush_interval = 0.3\n'
        )
        daemon = start_daemon(env, tmp_path / "daemon.out")
        try:
            wait_for(lambda: _stream_events(root)[-1].get("event") == "stream-start")
            child = _stream_events(root)[-1]["pid"]
            assert _alive(child)
        finally:
            daemon.kill()
            daemon.wait()
        wait_for(lambda: not _alive(child), timeout=40)


def supervised_stream(server: SimServer, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    held_lake(server, root)
    env = env_for(server, root, tmp_path / "binance-lake.toml")
    (tmp_path / "binance-lake.toml").write_text(
        SCHEDULE + '\n[stream]\nsymbols = "BTCUSDT"\nchannels = "markPrice@1s"\nflush_interval = 0.3\n'
        "compact_interval = 1\nrestart_min = 0.2\nrestart_max = 1\npause_after = 1\n"
    )
    with (tmp_path / "daemon.out").open("wb") as output:
        daemon = subprocess.Popen(
            [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "daemon", "--foreground",
             "--metrics-port", "0"],
            env=cli_env(env), stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # The catch-up update runs beside the stream: today's collector holds the writer lock for its
        # whole run, so the update waits `pause_after`, pauses the stream, runs, and the stream starts again.
        wait_for(lambda: "sleeping" in _log_text(root) or daemon.poll() is not None)
        assert daemon.poll() is None, (tmp_path / "daemon.out").read_text()
        assert job_runs(root)["update"] is Outcome.OK
        wait_for(lambda: _stream_events(root)[-1].get("event") == "stream-start")
        first = _stream_events(root)[-1]["pid"]
        try:
            wait_for(lambda: list((root / "tables" / "markPrice").rglob("*.parquet")) != [])
        except AssertionError:
            logs = root / "logs"
            raise AssertionError(
                (logs / "stream.out").read_text()[-3000:] + (logs / "stream.jsonl").read_text()[-3000:]
            ) from None
        starts = len(_stream_events(root))
        os.kill(first, signal.SIGKILL)  # the stream dies: the daemon restarts it after its backoff
        wait_for(
            lambda: [e.get("event") for e in _stream_events(root)[starts:]] == ["stream-exit", "stream-start"]
        )
        exit_line, started = _stream_events(root)[starts:]
        second = started["pid"]
        assert second != first and _alive(second)
        assert exit_line["exit"] == -signal.SIGKILL and 0.1 <= exit_line["restart_in"] <= 0.2

        def shown() -> dict[str, Any]:
            status = run_cli("daemon", "status", "--format", "json", env=env)
            assert status.returncode == 0, status.stderr
            return dict(json.loads(status.stdout)["stream"] or {})

        wait_for(lambda: shown().get("pid") == second)
        # Every exit is a restart. Today's collector holds the writer lock for its whole run, so one started
        # while a job held it died and was started again when the job let go (no backoff: not a crash).
        earlier = [e for e in _stream_events(root)[:starts] if e["event"] == "stream-exit"]
        assert all(e["reason"] == "the writer lock was taken" for e in earlier), earlier
        restarts = sum(e.get("event") == "stream-exit" for e in _stream_events(root))
        assert shown()["state"] == "running" and shown()["restarts"] == restarts >= 1
        url = next(
            json.loads(line)["url"] for line in log_path(root).read_text().splitlines() if '"metrics"' in line
        )
        scraped = urllib.request.urlopen(url, timeout=10).read().decode()
        assert (
            f"binance_lake_stream_restarts_total {restarts}.0" in scraped
            and "binance_lake_stream_up 1.0" in scraped
        )
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        assert _stream_events(root)[-1] == {**_stream_events(root)[-1], "event": "stream-stop", "exit": 0}
        assert not _alive(second)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


@pytest.mark.slow
def test_a_scheduled_update_runs_beside_the_supervised_stream(tmp_path: Path) -> None:
    # The collector takes the writer lock only for its compaction bursts, so the daemon's update gets in
    # between them: the update succeeds and the stream is neither paused nor restarted.
    with SimServer(Universe.build("small", now=_now()), stream_speed=2) as server:
        root = tmp_path / "lake"
        held_lake(server, root)
        config = tmp_path / "binance-lake.toml"
        env = env_for(server, root, config)
        # Every minute, so the update fires while the stream runs (up to a minute's wait); first one update
        # now, so that the daemon has nothing to catch up at start.
        while dt.datetime.now(dt.UTC).second > 40:
            time.sleep(1)
        assert run_cli("daemon", "--once", env=env).returncode == 0
        config.write_text(
            '[schedule]\nprobe = "off"\nupdate = "* * * * *"\n[stream]\nsymbols = "BTCUSDT"\n'
            'channels = "markPrice@1s"\nflush_interval = 0.3\ncompact_interval = 1\npause_after = 30\n'
        )
        daemon = start_daemon(env, tmp_path / "daemon.out")
        try:
            wait_for(lambda: _stream_events(root)[-1].get("event") == "stream-start")
            child = _stream_events(root)[-1]["pid"]
            started = len(_events(root))
            wait_for(lambda: any(e.get("event") == "job" and e.get("job") == "update"
                                 for e in _events(root)[started:]), timeout=120)  # fmt: skip
            events = _events(root)[started:]
            update = next(e for e in events if e["event"] == "job" and e["job"] == "update")
            assert update["outcome"] == "ok"
            names = [e["event"] for e in events]
            assert "job-pausing-stream" not in names and "stream-pause" not in names
            assert _alive(child) and _stream_events(root)[-1]["pid"] == child
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=60) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()


def _events(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _log_text(root).splitlines()]
