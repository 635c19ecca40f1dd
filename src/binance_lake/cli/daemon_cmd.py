"""`binance-lake daemon`: run the schedule unattended (`--foreground`, `--once`), `daemon status`, `daemon stop`.

Without `--foreground` the command starts the same command with `--foreground` as a detached process (its
own session, output to the log) and returns once it holds the lake's pid file. Under systemd or another
supervisor, use `--foreground`. The settings reach the detached process through their environment variables,
so it serves the same lake with the same endpoints whatever flags started it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from binance_lake.cli.observe import METRICS_PORT
from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, err_console, print_record, show
from binance_lake.cli.state import state
from binance_lake.core.settings import Settings

if TYPE_CHECKING:
    from binance_lake.lake import Lake


class Action(StrEnum):
    RUN = "run"
    STATUS = "status"
    STOP = "stop"


START_WAIT_SECONDS = 15.0


def _echo(record: Mapping[str, Any]) -> None:
    """A log record as one readable line on stderr (the JSON line goes to the log file)."""
    rest = {k: v for k, v in record.items() if k not in ("time", "event", "job", "outcome")}
    figures = " ".join(f"{k}={v}" for k, v in sorted(rest.items()))
    head = f"{record['time']} {record['event']}"
    if "job" in record:
        head += f" {record['job']}"
    if "outcome" in record:
        colour = "green" if record["outcome"] == "ok" else "red"
        head += f" [{colour}]{record['outcome']}[/]"
    err_console.print(f"{head} {escape(figures)}", highlight=False)


def _child_environment(settings: Settings, config: str | None) -> dict[str, str]:
    from binance_lake.ops.stream import child_environment

    return child_environment(settings, Path(config).expanduser().resolve() if config else None)


def daemon_command(
    ctx: typer.Context,
    action: Action = typer.Argument(
        Action.RUN, help="run (default): start the daemon; status: is it running, its jobs; stop: stop it."
    ),
    foreground: bool = typer.Option(
        False, "--foreground", help="Run in this process (for systemd or a terminal); default: detach."
    ),
    once: bool = typer.Option(
        False, "--once", help="Run every scheduled job once, in order, and exit (1 when one failed)."
    ),
    timeout: float = typer.Option(60.0, "--timeout", min=0, help="stop: seconds to wait for it to exit."),
    fmt: OutputFormat = FORMAT,
    metrics_port: int | None = METRICS_PORT,
) -> None:
    """Keep the lake current unattended: the schedule table of binance-lake.toml (probe, update, …), UTC.

    `daemon` catches up on missed jobs, then runs each job at its time, one at a time; SIGTERM or SIGINT stops
    it after recording the job in flight (exit 0). Logs: ROOT/logs/daemon.jsonl. `daemon status` exits 0
    when a daemon runs and 3 when none does (as `systemctl status`); `daemon stop` sends it SIGTERM and waits."""
    if action is Action.STATUS:
        _status(ctx, fmt)
        return
    if action is Action.STOP:
        _stop(ctx, timeout)
        return
    # Imported here: the scheduler is only needed when the daemon runs.
    from binance_lake.lake import Lake
    from binance_lake.ops.daemon import Daemon, JobLog, log_path
    from binance_lake.ops.metrics import Metrics, MetricsServer
    from binance_lake.ops.pidfile import PidFile
    from binance_lake.ops.schedule import parse_schedule
    from binance_lake.storage.job_runs import Outcome

    cli = state(ctx)
    settings = cli.settings()
    specs = parse_schedule(settings.schedule)
    lake = Lake(settings=settings)
    if not foreground and not once:
        _start_detached(settings, cli.config, lake, metrics_port)
        return
    echo = _echo if sys.stderr.isatty() or once else None
    log = JobLog(log_path(lake.root), echo=echo)
    with PidFile(lake.root):
        metrics = Metrics()
        stream = None if once else _supervisor(settings, cli.config, lake)
        daemon = Daemon(lake, specs, log=log, metrics=metrics, stream=stream)
        server = MetricsServer(metrics, metrics_port) if metrics_port is not None else None
        if server is not None:
            log.write("metrics", url=f"http://127.0.0.1:{server.port}/metrics")
        try:
            if once:
                results = daemon.run_once()
                if any(r.outcome is not Outcome.OK for r in results):
                    raise typer.Exit(1)
                return
            daemon.serve()
        finally:
            if server is not None:
                server.close()


def _supervisor(settings: Settings, config: str | None, lake: Lake) -> Any:
    """The `[stream]` table's supervised stream, or None (`ops.stream`)."""
    from binance_lake.ops.stream import StreamSupervisor, parse_stream

    stream = parse_stream(settings.stream)
    if stream is None:
        return None
    environment = _child_environment(settings, config)
    return StreamSupervisor(stream, lake.root, environment, log=lambda event, **fields: None)


def _start_detached(settings: Settings, config: str | None, lake: Lake, metrics_port: int | None) -> None:
    from binance_lake.ops.daemon import log_path
    from binance_lake.ops.pidfile import running_pid

    holder = running_pid(lake.root)
    if holder is not None:
        from binance_lake.ops.pidfile import DaemonRunning

        raise DaemonRunning(
            f"a daemon (pid {holder}) already runs for the lake at {lake.root}; "
            "stop it with `binance-lake daemon stop` or use it"
        )
    log = log_path(lake.root)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.with_suffix(".out").open("ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "daemon", "--foreground"]
            + ([] if metrics_port is None else ["--metrics-port", str(metrics_port)]),
            env=_child_environment(settings, config),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_WAIT_SECONDS
    while time.monotonic() < deadline:
        if running_pid(lake.root) == child.pid:
            console.print(f"daemon started (pid {child.pid}); logs: {log}", highlight=False)
            return
        if child.poll() is not None:
            tail = log.with_suffix(".out").read_text(errors="replace").strip().splitlines()[-3:]
            err_console.print(escape("\n".join(tail)), highlight=False)
            raise typer.Exit(1)
        time.sleep(0.05)
    err_console.print(f"the daemon (pid {child.pid}) did not take the lake within {START_WAIT_SECONDS:.0f} s")
    raise typer.Exit(1)


def _status(ctx: typer.Context, fmt: OutputFormat) -> None:
    """Whether a daemon runs for this lake, its schedule with the next times, and each job's last run."""
    from binance_lake.lake import Lake
    from binance_lake.ops.pidfile import running_pid
    from binance_lake.ops.schedule import parse_schedule
    from binance_lake.storage.job_runs import last_runs_of

    settings = state(ctx).settings()
    specs = parse_schedule(settings.schedule)
    lake = Lake(settings=settings)
    pid = running_pid(lake.root)
    now = dt.datetime.now(dt.UTC)
    last = last_runs_of(lake.database)
    jobs: list[dict[str, Any]] = []
    for spec in specs:
        run = last.get(spec.job)
        jobs.append(
            {
                "job": spec.job,
                "cron": spec.cron,
                "next": spec.next_fire(now),
                "last_started": run.started_at if run else None,
                "last_outcome": run.outcome.value if run else None,
                "last_seconds": (run.finished_at - run.started_at).total_seconds()
                if run and run.finished_at
                else None,
                "last_summary": dict(run.summary) if run else None,
            }
        )
    from binance_lake.cli.monitor_cmd import stream_line
    from binance_lake.ops.live import read_live

    daemon = next((r for r in read_live(lake.root) if r.kind == "daemon" and r.pid == pid), None)
    stream = daemon.extra.get("stream") if daemon is not None and daemon.active else None
    if fmt is not OutputFormat.TABLE:
        record = {
            "running": pid is not None,
            "pid": pid,
            "root": str(lake.root),
            "jobs": jobs,
            "stream": stream,
        }
        print_record(record, fmt)
    else:
        console.print(f"daemon: running (pid {pid})" if pid else "daemon: not running", highlight=False)
        if (line := stream_line(daemon)) is not None:
            console.print(line, highlight=False)
        table = Table(title="schedule (UTC)")
        for column in ("job", "cron", "next", "last run", "outcome", "seconds"):
            table.add_column(column)
        for job in jobs:
            table.add_row(
                job["job"],
                job["cron"],
                f"{job['next']:%Y-%m-%d %H:%M}",
                f"{job['last_started']:%Y-%m-%d %H:%M:%S}" if job["last_started"] else "never",
                job["last_outcome"] or "-",
                f"{job['last_seconds']:.1f}" if job["last_seconds"] is not None else "-",
            )
        show(table)
    if pid is None:
        raise typer.Exit(3)


def _stop(ctx: typer.Context, timeout: float) -> None:
    """Stop the lake's daemon (SIGTERM): it records the job in flight and exits."""
    from binance_lake.lake import Lake
    from binance_lake.ops.pidfile import running_pid

    lake = Lake(settings=state(ctx).settings())
    pid = running_pid(lake.root)
    if pid is None:
        console.print(f"no daemon runs for the lake at {lake.root}", highlight=False)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(lake.root) is None:
            console.print(f"daemon (pid {pid}) stopped", highlight=False)
            return
        time.sleep(0.1)
    err_console.print(
        f"[bold red]error:[/] the daemon (pid {pid}) did not stop within {timeout:.0f} s; it may be finishing "
        f"a file — wait, or `kill -9 {pid}` (the next run resumes)",
        highlight=False,
    )
    raise typer.Exit(1)
