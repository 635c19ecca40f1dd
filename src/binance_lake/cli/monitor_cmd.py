"""`binance-lake monitor`: a live dashboard of a lake that other processes are syncing, updating or streaming.

It never makes a writer wait: while any run is active it reads only the runs' live status files
(`ops/live.py`); the lake's database (freshness per dataset, the daemon's last jobs) is read only while no
run is active, and the last values read stay on screen, marked with their age, while one is.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from binance_lake.cli.render import console
from binance_lake.cli.state import state
from binance_lake.core.errors import BinanceLakeError

if TYPE_CHECKING:
    from binance_lake.lake import Lake
    from binance_lake.ops.live import LiveRun
    from binance_lake.storage.job_runs import JobRun


@dataclass
class LakeFacts:
    """What the monitor last read from the database, and when."""

    read_at: dt.datetime | None = None
    freshness: list[tuple[str, dt.date | None, int]] = field(default_factory=list)
    jobs: dict[str, JobRun] = field(default_factory=dict)


def read_facts(lake: Lake) -> LakeFacts:
    """Freshness per (market, dataset, interval) and the last run of each daemon job, from the database."""
    from binance_lake.storage.job_runs import last_runs_of

    facts = LakeFacts(read_at=dt.datetime.now(dt.UTC))
    if not lake.database.path.exists():
        return facts
    rows = lake.status(as_="arrow").to_pylist()
    newest: dict[str, dt.date | None] = {}
    count: dict[str, int] = defaultdict(int)
    for row in rows:
        name = "/".join(str(p) for p in (row["market"], row["dataset"], row["interval"]) if p)
        count[name] += 1
        last = row["last_day"]
        if last is not None and (newest.get(name) is None or last > newest[name]):
            newest[name] = last
        newest.setdefault(name, None)
    facts.freshness = [(name, newest[name], count[name]) for name in sorted(newest)]
    facts.jobs = last_runs_of(lake.database)
    return facts


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def render(runs: list[LiveRun], facts: LakeFacts, now: dt.datetime) -> RenderableType:
    """The dashboard: runs (active first), the daemon's schedule and jobs, freshness per dataset."""
    parts: list[RenderableType] = []
    table = Table(title="runs", expand=False)
    for column in ("run", "pid", "state", "phase", "done", "MB", "MB/s", "ETA", "failures", "rows"):
        table.add_column(column)
    shown = [r for r in runs if r.kind != "daemon" or r.writing][:8]
    for run in shown:
        state_text = "running" if run.active else (run.outcome or "ended")
        name = f"daemon: {run.extra.get('current_job')}" if run.kind == "daemon" else run.kind
        total = f"/{run.total}" if run.total is not None else ""
        table.add_row(
            name,
            str(run.pid),
            state_text,
            run.phase or "-",
            f"{run.done}{total}",
            f"{run.bytes_done / 1e6:.1f}",
            f"{run.rate_bytes_s / 1e6:.1f}" if run.rate_bytes_s and run.active else "-",
            _age(run.eta_s) if run.eta_s is not None and run.active else "-",
            str(run.failures),
            f"{run.rows:,}",
        )
    if not shown:
        table.add_row("-", "-", "no run has published yet", *["-"] * 7)
    parts.append(table)
    daemon = next((r for r in runs if r.kind == "daemon"), None)
    jobs = Table(
        title="daemon " + (f"(pid {daemon.pid}, running)" if daemon and daemon.active else "(not running)")
    )
    for column in ("job", "cron", "next", "last outcome", "last run"):
        jobs.add_column(column)
    schedule = daemon_schedule(daemon) if daemon else []
    names = [s["job"] for s in schedule] or sorted(facts.jobs)
    current = _current_job(daemon)
    for name in names:
        entry = next((s for s in schedule if s["job"] == name), {})
        last = facts.jobs.get(name)
        outcome = "running now" if current == name else (last.outcome.value if last else "-")
        jobs.add_row(
            name,
            str(entry.get("cron", "-")),
            str(entry.get("next", "-"))[:16].replace("T", " "),
            outcome,
            f"{last.started_at:%Y-%m-%d %H:%M}" if last else "never",
        )
    parts.append(jobs)
    line = stream_line(daemon)
    if line is not None:
        parts.append(Text(line))
    fresh = Table(title="freshness" + _facts_age(facts, now))
    for column in ("series", "symbols", "newest day", "behind"):
        fresh.add_column(column)
    for name, newest, symbols in facts.freshness:
        behind = "-"
        if newest is not None:
            end = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), dt.UTC)
            behind = _age(max((now - end).total_seconds(), 0))
        fresh.add_row(name, str(symbols), str(newest or "-"), behind)
    parts.append(fresh)
    return Group(*parts)


def daemon_schedule(daemon: LiveRun) -> list[dict[str, Any]]:
    value = daemon.extra.get("schedule")
    return list(value) if isinstance(value, list) else []


def stream_line(daemon: LiveRun | None) -> str | None:
    """The daemon's supervised stream in one line (`ops.stream`), or None when it runs none."""
    value = daemon.extra.get("stream") if daemon is not None and daemon.active else None
    if not isinstance(value, dict):
        return None
    state = str(value.get("state"))
    if value.get("pid"):
        state += f" (pid {value['pid']})"
    elif value.get("next_start_in") is not None:
        state += f" (restart in {float(value['next_start_in']):.1f} s, last exit {value.get('last_exit')})"
    return f"supervised stream: {state}, {value.get('restarts', 0)} restarts"


def _current_job(daemon: LiveRun | None) -> str | None:
    if daemon is None or not daemon.active:
        return None
    value = daemon.extra.get("current_job")
    return str(value) if value else None


def _facts_age(facts: LakeFacts, now: dt.datetime) -> str:
    if facts.read_at is None:
        return " (not read yet: a run is writing)"
    age = (now - facts.read_at).total_seconds()
    return "" if age < 5 else f" (as read {_age(age)} ago; a run is writing)"


class Dashboard:
    """The monitor's state between frames: the lake and the facts last read from its database."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.facts = LakeFacts()

    def frame(self) -> RenderableType:
        from binance_lake.ops.live import read_live

        runs = read_live(self.lake.root)
        # The database only while nothing writes: a reader would make the writer wait (module docstring).
        if not any(run.writing for run in runs):
            try:
                self.facts = read_facts(self.lake)
            except BinanceLakeError as error:
                return Text(f"cannot read the lake at {self.lake.root}: {error}")
        return render(runs, self.facts, dt.datetime.now(dt.UTC))


def monitor_command(
    ctx: typer.Context,
    refresh: float = typer.Option(1.0, "--refresh", min=0.1, help="Seconds between refreshes."),
    interval: float | None = typer.Option(
        None, "--interval", min=0.1, hidden=True, help="The issue's spelling of --refresh (seconds)."
    ),
    for_seconds: float | None = typer.Option(
        None, "--for", min=0, help="Stop after this many seconds (default: until Ctrl-C)."
    ),
) -> None:
    """Watch the lake live: current runs (files, bytes, rate, ETA, failures), the daemon's schedule and last
    jobs, freshness per dataset. Read-only; never makes a running sync wait."""
    from binance_lake.lake import Lake

    # `--interval` means a kline interval everywhere else, so the refresh period is `--refresh`.
    interval = refresh if interval is None else interval
    dashboard = Dashboard(Lake(settings=state(ctx).settings()))
    deadline = None if for_seconds is None else time.monotonic() + for_seconds
    # No auto-refresh thread: a frame is drawn only when it is rebuilt, so an idle monitor costs next to nothing.
    with Live(dashboard.frame(), console=console, auto_refresh=False, transient=False) as live:
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(
                    interval if deadline is None else min(interval, max(deadline - time.monotonic(), 0))
                )
                live.update(dashboard.frame(), refresh=True)
        except KeyboardInterrupt:
            pass
