"""The scheduler daemon: runs the jobs of the schedule, one at a time, until SIGTERM or SIGINT.

- One daemon per lake (`pidfile.PidFile`); jobs take the writer lock per run, so a manual command can use the
  lake between jobs (a job that finds the lake locked fails with that sentence and runs at its next time).
- At start, the jobs whose runs were missed while no daemon ran are run once, in `JOB_ORDER` (catch-up,
  `schedule.due_at_start`); then APScheduler's `BlockingScheduler` fires each job on its cron trigger.
  Jobs run on the scheduler's own thread (`DebugExecutor`), hence one at a time, and with `coalesce` and
  `max_instances=1` a job late because another ran long runs once, not once per missed time.
- Every run is recorded in `job_runs` (start and end), logged as one JSON line (`logs/daemon.jsonl`) with its
  outcome and figures, counted in the metrics, and published in the daemon's live status file.
- A supervised stream (`ops.stream`, the `[stream]` table) runs beside the jobs as a child process, from
  `serve` until the daemon stops. The stream and the jobs share the writer lock: a job that finds it taken
  retries every `lock_retry` seconds (one log line says so; a collector that holds the lock only for short
  bursts lets the job in). When the holder is still the daemon's own stream after `[stream] pause_after`
  seconds (today's collector holds the lock for its whole run), the stream is paused — stopped cleanly, its
  rows flushed and compacted — for the job and its follow-ups, and started again after them. Any other
  holder (a manual `sync`) makes the job fail with that sentence after `lock_wait` seconds; it runs at its
  next time. SIGTERM inside a DuckDB query (its "Query interrupted") stops the daemon as Ctrl-C does.
- SIGTERM or SIGINT: the job in flight is interrupted the way Ctrl-C interrupts a sync (files in flight are
  recorded `interrupted` and resume next time; nothing stored is lost), recorded as `interrupted`, and the
  daemon exits 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler

from binance_lake.core.errors import BinanceLakeError, LakeLocked, UsageError
from binance_lake.core.progress import ProgressSink
from binance_lake.lake import Lake
from binance_lake.ops.jobs import NEEDS, Job, jobs_for
from binance_lake.ops.live import LiveStatus
from binance_lake.ops.metrics import Freshness, Metrics
from binance_lake.ops.schedule import FOLLOW_UPS, JOB_ORDER, JobSpec, due_at_start, next_wakeup
from binance_lake.ops.stream import StreamState, StreamSupervisor
from binance_lake.storage import job_runs
from binance_lake.storage.database import writer_pid
from binance_lake.storage.job_runs import Outcome

LOG_NAME = "daemon.jsonl"
LOCK_WAIT_SECONDS = 60.0
"""How long a job waits for a writer lock another process holds before it fails (or pauses the stream)."""
LOCK_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class JobResult:
    job: str
    outcome: Outcome
    seconds: float
    summary: Mapping[str, Any] = field(default_factory=dict)


class JobLog:
    """One JSON line per event in `<root>/logs/daemon.jsonl`; `echo` also receives each line's record (the
    CLI prints it as text on a terminal)."""

    def __init__(self, path: Path, echo: Callable[[Mapping[str, Any]], None] | None = None) -> None:
        self.path = path
        self._echo = echo

    def write(self, event: str, **fields: Any) -> None:
        record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "event": event, **fields}
        # Opened per line (a few lines per job): a rotated or deleted log is simply started again.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str, sort_keys=True) + "\n")
        if self._echo is not None:
            self._echo(record)


def log_path(root: Path) -> Path:
    return root / "logs" / LOG_NAME


class Daemon:
    """The jobs of `specs` over `lake` (see the module docstring); `now` is injectable for tests."""

    def __init__(
        self,
        lake: Lake,
        specs: tuple[JobSpec, ...],
        *,
        log: JobLog,
        metrics: Metrics | None = None,
        jobs: Mapping[str, Job] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        stream: StreamSupervisor | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS,
        lock_retry: float = LOCK_RETRY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        jobs = jobs_for(lake.settings) if jobs is None else jobs
        unavailable = [spec.job for spec in specs if spec.job not in jobs]
        if unavailable:
            needs = [f"{job} needs an {NEEDS[job]} table" for job in unavailable if job in NEEDS]
            raise UsageError(
                f"[schedule] names job(s) this lake cannot run: {', '.join(unavailable)} "
                f'({"; ".join(needs) or "runnable: " + ", ".join(jobs)}); configure them or set them to "off"'
            )
        self.lake = lake
        self.specs = specs
        self.log = log
        self.metrics = metrics or Metrics()
        self.jobs = jobs
        self.now = now
        self.live = LiveStatus(lake.root, "daemon")
        self._last: dict[str, str] = {}
        self._scheduler: BlockingScheduler | None = None
        self.stream = stream
        self._stopping = False  # set when a signal stops the scheduler from inside a job
        self._stream_paused = False
        self.lock_wait, self.lock_retry, self._sleep = lock_wait, lock_retry, sleep
        if stream is not None:
            stream.log = self.log.write
            stream.on_change = self._stream_changed
            stream.on_restart = self.metrics.stream_restarts.inc

    # -- one job ------------------------------------------------------------------------------------------

    def run_job(self, job: str) -> JobResult:
        """Run `job` once, recording, logging and counting it; `KeyboardInterrupt` is recorded and re-raised."""
        started = self.now()
        run_id = job_runs.start_run(self.lake.database, job, started, os.getpid())
        self.live.publish(force=True, current_job=job, current_started=started.isoformat())
        self.log.write("job-start", job=job, run_id=run_id)
        clock = time.monotonic()
        self.metrics.reset()
        sink = self.live.sink(self.metrics.sink())
        outcome, summary = Outcome.FAILED, {}
        if self.stream is not None:
            self.stream.job_started()
        try:
            summary = dict(self._call(job, sink))
            outcome = Outcome.OK if summary.get("ok", True) else Outcome.FAILED
        except KeyboardInterrupt:
            outcome = Outcome.INTERRUPTED
            raise
        except BinanceLakeError as error:
            summary = {"error": str(error)}
        finally:
            if self.stream is not None:
                self.stream.job_ended()
            seconds = round(time.monotonic() - clock, 3)
            ended = self.now()
            job_runs.finish_run(self.lake.database, run_id, outcome, ended, summary)
            self.metrics.job_finished(job, outcome.value, seconds, ended)
            self._last[job] = outcome.value
            self.log.write("job", job=job, run_id=run_id, outcome=outcome.value, seconds=seconds, **summary)
            self._publish(current_job=None)
            self._set_freshness()
            self._set_alerts()
        return JobResult(job, outcome, seconds, summary)

    def _call(self, job: str, sink: ProgressSink) -> Mapping[str, Any]:
        """The job, waiting for the writer lock when another process holds it (see the module docstring)."""
        waited = 0.0
        while True:
            try:
                return self.jobs[job](self.lake, sink, self.metrics)
            except LakeLocked as error:
                holder = writer_pid(self.lake.root)
                ours = self.stream is not None and holder is not None and holder == self.stream.pid
                if ours and self.stream is not None and waited >= self.stream.config.pause_after:
                    break
                if not ours and waited >= self.lock_wait:
                    raise
                if waited == 0:
                    self.log.write("job-waiting", job=job, holder=holder, reason=str(error))
                self._sleep(self.lock_retry)
                waited += self.lock_retry
        assert self.stream is not None
        self.log.write("job-pausing-stream", job=job, pid=self.stream.pid)
        # Paused until the end of the chain (`run_chain`): its follow-ups need the lock too.
        self.stream.pause()
        self._stream_paused = True
        return self.jobs[job](self.lake, sink, self.metrics)

    def _stream_changed(self, state: StreamState) -> None:
        self.metrics.stream_up.set(1 if state.state == "running" else 0)
        self.live.publish(force=True, stream=state.as_dict())

    def _set_alerts(self) -> None:
        """The `[alerts]` thresholds' states into the metrics (what `health` would say now)."""
        if not self.lake.settings.alerts:
            return
        try:
            health = self.lake.health(now=self.now())
        except BinanceLakeError:
            return
        except RuntimeError as error:
            _interrupted(error)
            raise
        self.metrics.set_alerts(health.details.get("alerts", []))

    def _set_freshness(self) -> None:
        try:
            rows = self.lake.status(as_="arrow").to_pylist()
        except BinanceLakeError:
            return
        except RuntimeError as error:
            _interrupted(error)
            raise
        now = self.now()
        values = []
        for row in rows:
            if row["last_day"] is None:
                continue
            end = dt.datetime.combine(row["last_day"] + dt.timedelta(days=1), dt.time(), dt.UTC)
            series = "/".join(
                str(p) for p in (row["market"], row["dataset"], row["interval"], row["symbol"]) if p
            )
            values.append(Freshness(series, (now - end).total_seconds()))
        self.metrics.set_freshness(values)

    def _publish(self, **fields: Any) -> None:
        now = self.now()
        schedule = [{"job": s.job, "cron": s.cron, "next": s.next_fire(now).isoformat()} for s in self.specs]
        self.live.publish(force=True, schedule=schedule, last=dict(self._last), **fields)

    # -- runs ---------------------------------------------------------------------------------------------

    def due_at_start(self) -> list[str]:
        """The jobs to catch up now (see `schedule.due_at_start`), in schedule order."""
        last = job_runs.last_runs_of(self.lake.database)
        now = self.now()
        return [
            spec.job
            for spec in self.specs
            if due_at_start(spec, last[spec.job].started_at if spec.job in last else None, now)
        ]

    def follow_ups(self, job: str) -> tuple[str, ...]:
        """The jobs that run right after `job`: its follow-ups this version can run and that are not
        scheduled on their own."""
        scheduled = {spec.job for spec in self.specs}
        return tuple(j for j in FOLLOW_UPS.get(job, ()) if j in self.jobs and j not in scheduled)

    def run_chain(self, job: str) -> list[JobResult]:
        """`job`, then its follow-ups (each runs whatever the one before it did: a check after a failed
        update is what says what failed)."""
        interrupted = False
        try:
            results = [self.run_job(name) for name in (job, *self.follow_ups(job))]
        except KeyboardInterrupt:
            interrupted = True  # the daemon stops: `serve` stops the stream, no restart in between
            raise
        finally:
            if self._stream_paused and self.stream is not None and not interrupted:
                self.stream.resume()
            self._stream_paused = False
        return results

    def chain_order(self) -> list[str]:
        """Every job of a `--once` run: the scheduled ones and their follow-ups, in `JOB_ORDER`."""
        names = {spec.job for spec in self.specs}
        for spec in self.specs:
            names.update(self.follow_ups(spec.job))
        return [job for job in JOB_ORDER if job in names]

    def run_once(self) -> list[JobResult]:
        """Every scheduled job and its follow-ups once, in order (`daemon --once`)."""
        with _signals_interrupt():
            return [self.run_job(job) for job in self.chain_order()]

    def serve(self) -> None:
        """Catch up, then run the schedule until SIGTERM/SIGINT; returns when stopped."""
        self.log.write("daemon-start", pid=os.getpid(), schedule={s.job: s.cron for s in self.specs})
        self._publish(current_job=None)
        if self.stream is not None:
            self.stream.start()
        try:
            with _signals_interrupt():
                for job in self.due_at_start():
                    self.run_chain(job)
                scheduler = BlockingScheduler(
                    timezone=dt.UTC,
                    executors={"default": DebugExecutor()},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                )
                for spec in self.specs:
                    scheduler.add_job(
                        self._scheduled, spec.trigger, args=[spec.job], id=spec.job, name=spec.job
                    )
                self._scheduler = scheduler
                wake = next_wakeup(self.specs, self.now())
                if wake is not None:
                    self.log.write("sleeping", until=wake[0].isoformat(), jobs=list(wake[1]))
                try:
                    scheduler.start()
                except JobLookupError:
                    # A stop inside a job (`_scheduled`) empties APScheduler's memory job store while its loop
                    # still holds the job it ran, and the loop's next look-up fails: that is our stop, not a fault.
                    if not self._stopping:
                        raise
        except KeyboardInterrupt:
            # SIGTERM/SIGINT while the scheduler slept (a job's interrupt stops it in `_scheduled`).
            if self._scheduler is not None and self._scheduler.running:
                self._scheduler.shutdown(wait=False)
        finally:
            if self.stream is not None:
                code = self.stream.stop()
                self.log.write("stream-stop", exit=code)
            self.log.write("daemon-stop", pid=os.getpid())
            self.live.end("stopped")

    def _scheduled(self, job: str) -> None:
        try:
            self.run_chain(job)
        except KeyboardInterrupt:
            # The DebugExecutor catches every exception of a job; stop the scheduler ourselves.
            self._stopping = True
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            return
        wake = next_wakeup(self.specs, self.now())
        if wake is not None:
            self.log.write("sleeping", until=wake[0].isoformat(), jobs=list(wake[1]))


def _interrupted(error: RuntimeError) -> None:
    """SIGTERM inside a DuckDB query surfaces as its "Query interrupted" error: stop as for Ctrl-C."""
    if "interrupted" in str(error).lower():
        raise KeyboardInterrupt from None


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt) while inside, so both stop a job the same tested way."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
