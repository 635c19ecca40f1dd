"""The daemon in-process, with jobs of its own: recording, logging, failures, interrupts, catch-up, metrics."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from binance_lake.core.errors import LakeLocked, SourceError, UsageError
from binance_lake.core.progress import Phase, Progress, ProgressSink
from binance_lake.lake import Lake
from binance_lake.ops.daemon import Daemon, JobLog, log_path
from binance_lake.ops.live import read_live
from binance_lake.ops.metrics import Metrics, MetricsServer
from binance_lake.ops.schedule import JobSpec, parse_schedule
from binance_lake.ops.stream import StreamConfig
from binance_lake.storage.job_runs import Outcome, last_runs, recent_runs

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def syncing_job(files: int) -> Any:
    """A job that reports `files` synced files of 1000 bytes and 10 rows each."""

    def job(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
        counter = Progress(Phase.SYNC, progress)
        counter.expect(files)
        for _ in range(files):
            counter.add(done=1, bytes_done=1000, rows=10)
        return {"files": files}

    return job


def failing_job(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    raise SourceError("the archive answered 503 for every file")


def interrupted_job(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    raise KeyboardInterrupt


def make(tmp_path: Path, jobs: Mapping[str, Any], *, clock: Clock | None = None, **schedule: str) -> Daemon:
    lake = Lake(tmp_path / "lake")
    specs = parse_schedule({"probe": "off", "update": "off", **schedule})
    return Daemon(lake, specs, log=JobLog(log_path(lake.root)), jobs=jobs, now=clock or Clock(NOW))


def test_run_once_records_logs_and_goes_on_after_a_failure(tmp_path: Path) -> None:
    daemon = make(
        tmp_path,
        {"probe": failing_job, "update": syncing_job(3)},
        probe="0 * * * *",
        update="0 2 * * *",
    )
    results = daemon.run_once()
    assert [(r.job, r.outcome) for r in results] == [("probe", Outcome.FAILED), ("update", Outcome.OK)]
    with daemon.lake.database.connect(read_only=True) as connection:
        last = last_runs(connection)
    assert last["probe"].outcome is Outcome.FAILED
    assert last["probe"].summary == {"error": "the archive answered 503 for every file"}
    assert last["update"].outcome is Outcome.OK and last["update"].summary == {"files": 3}
    assert last["update"].finished_at == NOW
    lines = [json.loads(line) for line in log_path(daemon.lake.root).read_text().splitlines()]
    ends = [line for line in lines if line["event"] == "job"]
    assert [(e["job"], e["outcome"]) for e in ends] == [("probe", "failed"), ("update", "ok")]
    assert ends[1]["files"] == 3 and ends[1]["seconds"] >= 0


def test_an_interrupt_is_recorded_and_stops(tmp_path: Path) -> None:
    daemon = make(
        tmp_path, {"probe": interrupted_job, "update": syncing_job(1)}, probe="0 * * * *", update="0 2 * * *"
    )
    with pytest.raises(KeyboardInterrupt):
        daemon.run_once()
    with daemon.lake.database.connect(read_only=True) as connection:
        runs = recent_runs(connection)
    # The update never started: the interrupt stops the chain.
    assert [(r.job, r.outcome) for r in runs] == [("probe", Outcome.INTERRUPTED)]


def test_catch_up_after_downtime_uses_the_recorded_runs(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC))
    jobs = {"probe": syncing_job(0), "update": syncing_job(0)}
    daemon = make(tmp_path, jobs, clock=clock, probe="0 */6 * * *", update="0 2 * * *")
    assert daemon.due_at_start() == ["probe", "update"]  # never ran
    for job in daemon.due_at_start():
        daemon.run_job(job)
    assert daemon.due_at_start() == []
    clock.now = dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.UTC)  # 06:00 probe missed, update not yet due
    assert daemon.due_at_start() == ["probe"]
    clock.now = dt.datetime(2026, 12, 5, 7, 0, tzinfo=dt.UTC)  # four days down: each job once
    assert daemon.due_at_start() == ["probe", "update"]


def test_an_export_scheduled_without_its_table_is_refused(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    specs = parse_schedule({"probe": "off", "update": "off", "export_qlib": "0 3 * * *"})
    with pytest.raises(
        UsageError, match=r"cannot run: export_qlib \(export_qlib needs an \[export.qlib\] table"
    ):
        Daemon(lake, specs, log=JobLog(log_path(lake.root)))


def test_metrics_endpoint_counts_the_jobs_files(tmp_path: Path) -> None:
    metrics = Metrics()
    daemon = make(tmp_path, {"update": syncing_job(4)}, update="0 2 * * *")
    daemon.metrics = metrics
    server = MetricsServer(metrics, 0)
    try:
        daemon.run_once()
        daemon.run_once()
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.close()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    # Two runs of four files each: the counters add each run's growth, starting from zero per run.
    assert values["binance_lake_files_synced_total"] == 8
    assert values["binance_lake_bytes_synced_total"] == 8000
    assert values["binance_lake_rows_written_total"] == 80
    assert values['binance_lake_job_runs_total{job="update",outcome="ok"}'] == 2
    assert values['binance_lake_job_last_success_timestamp_seconds{job="update"}'] == NOW.timestamp()


def test_the_daemon_publishes_its_schedule_for_the_monitor(tmp_path: Path) -> None:
    daemon = make(tmp_path, {"update": syncing_job(1)}, update="0 2 * * *")
    daemon.run_once()
    (run,) = [r for r in read_live(daemon.lake.root) if r.kind == "daemon"]
    assert run.extra["schedule"] == [
        {"job": "update", "cron": "0 2 * * *", "next": "2026-12-02T02:00:00+00:00"}
    ]
    assert run.extra["last"] == {"update": "ok"}
    assert run.extra["current_job"] is None and not run.writing


def test_check_and_report_follow_each_update_unless_scheduled_on_their_own(tmp_path: Path) -> None:
    ran: list[str] = []

    def recording(name: str) -> Any:
        def job(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
            ran.append(name)
            return {}

        return job

    jobs = {name: recording(name) for name in ("probe", "update", "check", "report")}
    daemon = make(tmp_path, jobs, probe="0 * * * *", update="0 2 * * *")
    daemon.run_once()
    assert ran == ["probe", "update", "check", "report"]
    ran.clear()
    daemon.run_chain("update")
    assert ran == ["update", "check", "report"]
    ran.clear()
    on_its_own = make(tmp_path, jobs, update="0 2 * * *", check="0 12 * * *")
    on_its_own.run_chain("update")
    assert ran == ["update", "report"]


def locked_then_ok(times: int) -> Any:
    """A job that finds the writer lock taken `times` times, then runs."""
    calls: list[int] = []

    def job(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
        calls.append(1)
        if len(calls) <= times:
            raise LakeLocked("another binance-lake process (pid 1) is writing the lake at X; wait for it")
        return {"calls": len(calls)}

    return job


class FakeStream:
    """The supervisor as the daemon sees it: its child's pid, pause and resume."""

    def __init__(self, pid: int | None, pause_after: float) -> None:
        self.pid = pid
        self.config = StreamConfig(("--symbols", "X"), pause_after=pause_after)
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def job_started(self) -> None:
        self.calls.append("job")

    def job_ended(self) -> None:
        self.calls.append("end")


def _lock_daemon(tmp_path: Path, job: Any, stream: FakeStream | None = None) -> tuple[Daemon, list[float]]:
    lake = Lake(tmp_path / "lake")
    slept: list[float] = []
    specs = parse_schedule({"probe": "off", "update": "0 2 * * *"})
    daemon = Daemon(
        lake, specs, log=JobLog(log_path(lake.root)), jobs={"update": job}, now=Clock(NOW),
        stream=stream, lock_wait=10, lock_retry=2, sleep=slept.append,  # type: ignore[arg-type]
    )  # fmt: skip
    return daemon, slept


def _events(daemon: Daemon) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_path(daemon.lake.root).read_text().splitlines()]


def test_a_job_waits_for_the_writer_lock_and_says_so_once(tmp_path: Path) -> None:
    daemon, slept = _lock_daemon(tmp_path, locked_then_ok(3))
    result = daemon.run_job("update")
    assert result.outcome is Outcome.OK and result.summary == {"calls": 4}
    assert slept == [2, 2, 2]
    waiting = [e for e in _events(daemon) if e["event"] == "job-waiting"]
    assert len(waiting) == 1 and "is writing the lake" in waiting[0]["reason"]


def test_a_lock_held_past_the_bound_fails_the_job_with_its_sentence(tmp_path: Path) -> None:
    daemon, slept = _lock_daemon(tmp_path, locked_then_ok(100))
    result = daemon.run_job("update")
    assert result.outcome is Outcome.FAILED and "is writing the lake" in result.summary["error"]
    assert sum(slept) == 10  # lock_wait


def test_the_daemons_own_stream_holding_the_lock_is_paused_for_the_job(tmp_path: Path) -> None:
    import os

    from binance_lake.storage.database import WriterLock

    stream = FakeStream(os.getpid(), pause_after=4)
    # The stream's child holds the writer lock (here: this process, whose pid the fake stream reports).
    with WriterLock(tmp_path / "lake"):
        job = locked_then_ok(3)  # locked until the stream is paused
        daemon, slept = _lock_daemon(tmp_path, job, stream)
        (result,) = daemon.run_chain("update")
    # Paused for the job and the rest of its chain, then resumed.
    assert result.outcome is Outcome.OK and stream.calls == ["job", "pause", "end", "resume"]
    assert slept == [2, 2]  # pause_after, then the job ran with the stream paused
    assert [e["event"] for e in _events(daemon)].count("job-pausing-stream") == 1


def test_the_metrics_expose_the_alert_thresholds_state(tmp_path: Path) -> None:
    import dataclasses
    from types import MappingProxyType

    lake = Lake(tmp_path / "lake")
    alerts = MappingProxyType({"max_failed_job_runs": 1, "max_failed_files": 0})
    lake = Lake(tmp_path / "lake", settings=dataclasses.replace(lake.settings, alerts=alerts))
    metrics = Metrics()
    specs = parse_schedule({"probe": "off", "update": "0 2 * * *"})
    daemon = Daemon(
        lake, specs, log=JobLog(log_path(lake.root)), metrics=metrics, jobs={"update": failing_job}
    )

    def scrape() -> dict[str, float]:
        server = MetricsServer(metrics, 0)
        try:
            text = (
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10).read().decode()
            )
        finally:
            server.close()
        return {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("binance_lake_alert_")
        }

    daemon.run_job("update")
    first = scrape()
    assert first['binance_lake_alert_breached{alert="max_failed_job_runs"}'] == 0
    assert first['binance_lake_alert_value{alert="max_failed_job_runs"}'] == 1
    assert first['binance_lake_alert_limit{alert="max_failed_job_runs"}'] == 1
    assert first['binance_lake_alert_breached{alert="max_failed_files"}'] == 0
    daemon.run_job("update")  # two failed runs in a row: over the limit
    second = scrape()
    assert second['binance_lake_alert_breached{alert="max_failed_job_runs"}'] == 1
    assert second['binance_lake_alert_value{alert="max_failed_job_runs"}'] == 2


class _EverySecond(JobSpec):
    """A spec APScheduler fires every second, so a scheduled (not caught-up) run happens at once."""

    @property
    def trigger(self) -> Any:
        return IntervalTrigger(seconds=1, timezone=dt.UTC)


def test_a_signal_inside_a_scheduled_job_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    # Stopping APScheduler from inside a job empties its job store under the loop that ran the job; the
    # loop's next look-up raised JobLookupError out of `serve` — a traceback and exit 1 on SIGTERM.
    lake = Lake(tmp_path / "lake")
    daemon = Daemon(
        lake,
        [_EverySecond("update", "0 2 * * *")],
        log=JobLog(log_path(lake.root)),
        jobs={"update": interrupted_job},
        now=Clock(dt.datetime.now(dt.UTC)),
    )
    daemon.due_at_start = lambda: []  # type: ignore[method-assign]
    daemon.serve()
    events = [json.loads(line)["event"] for line in log_path(lake.root).read_text().splitlines()]
    assert events[-1] == "daemon-stop" and "job-start" in events
    with lake.database.connect(read_only=True) as connection:
        assert last_runs(connection)["update"].outcome is Outcome.INTERRUPTED
