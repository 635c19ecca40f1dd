"""The daemon's schedule: which jobs run when (cron expressions in UTC), and which are due after downtime.

Rules:
- A schedule is the `[schedule]` table of binance-lake.toml: `job = "cron expression"` (five fields, UTC), e.g.
  `update = "0 2 * * *"`. Jobs absent from the table keep their default (`DEFAULT_SCHEDULE`); `job = "off"`
  disables one. Unknown job names and bad expressions are one sentence each (`UsageError`).
- Catch-up: a job is due at start when it never ran, or when its latest scheduled time at or before now is
  later than the start of its last run: the runs missed while the daemon was down are coalesced into one.
- A job may have follow-ups (`FOLLOW_UPS`): after each `update`, wherever it was started from, `check` and
  then `report` run (seed 003: a check after every collection), unless they are scheduled on their own.
- Jobs run one at a time in `JOB_ORDER` (probe before update, update before its check and report), never
  two at once: they share the lake's single writer.

Fire times come from APScheduler's `CronTrigger`, so the grammar is APScheduler's crontab grammar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger

from binance_lake.core.errors import UsageError

JOB_ORDER = ("probe", "update", "compact", "check", "report", "export_qlib", "export_postgres")
"""Every job the daemon knows, in the order a `--once` run (or a coalesced catch-up) runs them."""

DEFAULT_SCHEDULE: Mapping[str, str] = {
    "probe": "15 */6 * * *",
    "update": "0 2 * * *",
}
"""Seed 002's daily update at 02:00 UTC, and a catalog probe every six hours."""

FOLLOW_UPS: Mapping[str, tuple[str, ...]] = {"update": ("check", "report", "export_qlib", "export_postgres")}
"""Jobs run right after another one; a follow-up that has its own cron expression runs on that instead, and
one its settings do not configure (an export without its table) is left out."""

OFF = "off"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name and cron expression (UTC)."""

    job: str
    cron: str

    @property
    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=dt.UTC)

    def next_fire(self, after: dt.datetime) -> dt.datetime:
        """The first scheduled time strictly after `after`."""
        fire = self.trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
        assert fire is not None  # a crontab trigger has no end date
        result: dt.datetime = fire.astimezone(dt.UTC)
        return result

    def latest_fire(self, now: dt.datetime, *, horizon: dt.timedelta = dt.timedelta(days=800)) -> dt.datetime:
        """The latest scheduled time at or before `now` (or `now - horizon` when there is none that recent).

        APScheduler's triggers only look forward, so this walks forward through a window before `now` that
        doubles from one hour until it holds a fire time: a few steps for a daily or a minutely job alike."""
        trigger = self.trigger
        window = dt.timedelta(hours=1)
        while True:
            low = now - min(window, horizon)
            latest: dt.datetime | None = None
            fire = trigger.get_next_fire_time(None, low)
            while fire is not None and fire <= now:
                latest = fire
                fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
            if latest is not None:
                return latest.astimezone(dt.UTC)
            if window >= horizon:
                return low.astimezone(dt.UTC)
            window *= 2


def parse_schedule(table: Mapping[str, str] | None) -> tuple[JobSpec, ...]:
    """The enabled jobs of a `[schedule]` table merged over the defaults, in `JOB_ORDER`."""
    merged: dict[str, str] = dict(DEFAULT_SCHEDULE)
    for job, cron in (table or {}).items():
        if job not in JOB_ORDER:
            raise UsageError(f"unknown job {job!r} in [schedule] (known: {', '.join(JOB_ORDER)})")
        if not isinstance(cron, str):
            raise UsageError(f'[schedule] {job} must be a cron expression in quotes or "off", not {cron!r}')
        merged[job] = cron.strip()
    specs = []
    for job in JOB_ORDER:
        if job not in merged or merged[job].lower() == OFF:
            continue
        cron = merged[job]
        try:
            CronTrigger.from_crontab(cron, timezone=dt.UTC)
        except ValueError as error:
            raise UsageError(
                f"[schedule] {job} = {cron!r} is not a cron expression of five fields "
                f"(minute hour day month weekday, UTC): {error}"
            ) from None
        specs.append(JobSpec(job, cron))
    return tuple(specs)


def due_at_start(spec: JobSpec, last_started: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether `spec` must run now to catch up (see the module rules)."""
    if last_started is None:
        return True
    return spec.latest_fire(now) > last_started


def next_wakeup(specs: tuple[JobSpec, ...], now: dt.datetime) -> tuple[dt.datetime, tuple[str, ...]] | None:
    """When the daemon next has work, and which jobs fire then (in `JOB_ORDER`)."""
    if not specs:
        return None
    fires = {spec.job: spec.next_fire(now) for spec in specs}
    first = min(fires.values())
    return first, tuple(job for job in JOB_ORDER if fires.get(job) == first)
