"""`health`: is the lake fresh and whole? For cron and monitoring (seed 003's health_check.py).

The verdict is a code: 0 healthy, 1 degraded (a series older than `max_age`, quarantined files, rule
warnings in the last check), 2 failing (nothing held, files whose last sync failed, or integrity errors in
the last check). It reads what the stages recorded (day_provenance, file_state, the last check run) and
recomputes nothing. The `[alerts]` thresholds (`quality.alerts`) add their breaches, each failing or
degrading as configured, and their states (`alerts`, `breached`) to the summary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.quality.alerts import AlertState, check_alerts
from binance_lake.quality.store import _has_runs, last_run
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import newest_days
from binance_lake.storage.state_reads import problem_files


class Verdict(IntEnum):
    HEALTHY = 0
    DEGRADED = 1
    FAILING = 2


@dataclass(frozen=True)
class Health:
    verdict: Verdict
    reasons: tuple[str, ...]
    series: int = 0
    stale: int = 0
    checked_at: dt.datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return int(self.verdict)

    def line(self) -> str:
        why = "; ".join(self.reasons) if self.reasons else f"{self.series} series fresh"
        return f"{self.verdict.name.lower()}: {why}"

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.verdict.name.lower(),
            "code": self.code,
            "reasons": list(self.reasons),
            "series": self.series,
            "stale": self.stale,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            **self.details,
        }


def parse_age(text: str) -> dt.timedelta:
    """'2d', '36h', '90m', '3600s' (or a bare number of days) -> timedelta."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    value = text.strip().lower()
    unit = value[-1] if value and value[-1] in units else "d"
    number = value[:-1] if value and value[-1] in units else value
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if not amount > 0:
        raise UsageError(f"--max-age {text!r}: expected a positive age like 2d, 36h or 90m")
    return dt.timedelta(**{units[unit]: amount})


def assess(
    database: LakeDatabase,
    *,
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
    alerts: Mapping[str, object] | None = None,
) -> Health:
    now = now or dt.datetime.now(dt.UTC)
    health = _assess(database, max_age=max_age, now=now)
    return with_alerts(health, check_alerts(database, alerts, now)) if alerts else health


def with_alerts(health: Health, states: list[AlertState]) -> Health:
    """`health` with the thresholds' breaches: the worse verdict, their sentences, their states."""
    breached = [s for s in states if s.breached]
    verdict = max([health.verdict, *(Verdict(int(s.severity)) for s in breached)])
    details = {
        **health.details,
        "alerts": [s.summary() for s in states],
        "breached": [s.name for s in breached],
    }
    reasons = (*health.reasons, *(s.message for s in breached))
    return dataclasses.replace(health, verdict=verdict, reasons=reasons, details=details)


def _assess(database: LakeDatabase, *, max_age: dt.timedelta, now: dt.datetime) -> Health:
    if not database.path.exists():
        return Health(Verdict.FAILING, (f"no lake at {database.root}",))
    with database.connect(read_only=True) as connection:
        tables = {str(r[0]) for r in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        newest = newest_days(connection) if "day_provenance" in tables else None
        problems = problem_files(connection, schema="" if "file_state" in tables else None)
        run = last_run(connection) if _has_runs(connection) else None
    reasons: list[str] = []
    verdict = Verdict.HEALTHY
    series = newest.num_rows if newest is not None else 0
    statuses = problems.column("status").to_pylist()
    failed, quarantined = statuses.count("failed"), statuses.count("quarantined")
    if newest is None or not series:
        failures = (f"{failed} file(s) failed in the last sync (run sync again)",) if failed else ()
        return Health(Verdict.FAILING, ("the lake holds no data", *failures))
    today = now.astimezone(dt.UTC)
    stale = [
        (m, d, i, s, day)
        for m, d, i, s, day in zip(
            *(newest.column(c).to_pylist() for c in ("market", "dataset", "interval", "symbol", "newest")),
            strict=True,
        )
        # A day's data is complete at the end of that day.
        if today - dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) > max_age
    ]
    if failed:
        verdict = Verdict.FAILING
        reasons.append(f"{failed} file(s) failed in the last sync (run sync again)")
    checked_at = None
    if run is not None:
        _, checked_at, summary = run
        counts = summary.get("findings", {})
        if counts.get("error"):
            verdict = Verdict.FAILING
            reasons.append(
                f"the last check found {counts['error']} integrity error(s) (see `binance-lake check`)"
            )
        if counts.get("warning"):
            verdict = max(verdict, Verdict.DEGRADED)
            reasons.append(f"the last check found {counts['warning']} warning(s)")
    if stale:
        verdict = max(verdict, Verdict.DEGRADED)
        oldest = min(s[4] for s in stale)
        reasons.append(f"{len(stale)} of {series} series older than {_age(max_age)} (oldest ends {oldest})")
    if quarantined:
        verdict = max(verdict, Verdict.DEGRADED)
        reasons.append(f"{quarantined} file(s) quarantined (their checksum never matched)")
    return Health(
        verdict, tuple(reasons), series, len(stale), checked_at,
        {"failed_files": failed, "quarantined_files": quarantined},
    )  # fmt: skip


def _age(age: dt.timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 else f"{hours:g}h"
