"""Alert thresholds: the `[alerts]` table of binance-lake.toml, judged by `health` (seed 003's alerting).

    [alerts]
    max_freshness_lag = "36h"        # or per dataset: { klines = "36h", fundingRate = "3d", "*" = "2d" }
    max_failed_files = 0             # files whose last sync failed
    max_failed_job_runs = 2          # consecutive failed runs of any one daemon job
    max_rest_weight_share = 0.8      # the last update's peak REST weight per minute / the 2400 limit
    max_stream_silence = "2m"        # since a running stream's newest event (no stream running: breached)
    [alerts.severity]                # "fail" (health exits 2) or "degrade" (exits 1), per threshold
    max_freshness_lag = "fail"

A threshold breached when its value exceeds the limit. Default severities: failed files and failed job runs
fail, the others degrade. Each state (`AlertState`: name, limit, value, breached) goes into `health --json`
and, from the daemon, into the metrics (`binance_lake_alert_breached{alert=…}`). The facts are read from what
the stages recorded: day_provenance (freshness), file_state (failed files), job_runs (failed runs, the update's
REST weight) and the stream's live status file (`ops/live.py` writes `<root>/.live/stream-<pid>.json`; read
here with a few lines because this layer sits below ops).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.storage.database import LakeDatabase, process_alive
from binance_lake.storage.job_runs import failed_streaks, last_runs
from binance_lake.storage.provenance import newest_days
from binance_lake.storage.state_reads import problem_files


class Severity(IntEnum):
    """The health verdict a breach gives (`health.Verdict`'s values)."""

    DEGRADE = 1
    FAIL = 2


_AGE, _AGES, _COUNT, _SHARE = "age", "ages", "count", "share"

KNOWN: Mapping[str, tuple[str, Severity]] = {
    "max_freshness_lag": (_AGES, Severity.DEGRADE),
    "max_failed_files": (_COUNT, Severity.FAIL),
    "max_failed_job_runs": (_COUNT, Severity.FAIL),
    "max_rest_weight_share": (_SHARE, Severity.DEGRADE),
    "max_stream_silence": (_AGE, Severity.DEGRADE),
}
"""Each threshold: the kind of its limit and its default severity."""

ANY_DATASET = "*"
LIVE_STREAMS = ".live"  # ops/live.py's LIVE_DIR


@dataclass(frozen=True)
class Threshold:
    name: str
    limit: Any  # float (count, share), dt.timedelta (age), or {dataset: timedelta}
    severity: Severity


@dataclass(frozen=True)
class AlertState:
    """One threshold now: its limit and value as text/numbers, whether breached, and why in one sentence."""

    name: str
    limit: str
    value: float | None
    breached: bool
    limit_value: float | None
    severity: Severity
    message: str

    def summary(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "limit": self.limit,
            "limit_value": self.limit_value,
            "value": self.value,
            "breached": self.breached,
            "severity": "fail" if self.severity is Severity.FAIL else "degrade",
            "message": self.message,
        }


def _age(name: str, value: object) -> dt.timedelta:
    from binance_lake.quality.health import parse_age

    if isinstance(value, str):
        try:
            return parse_age(value)
        except UsageError:
            pass
    raise UsageError(f'{name} in [alerts] must be an age such as "36h", "2d" or "90s", not {value!r}')


def _limit(name: str, kind: str, value: object) -> Any:
    if kind == _AGES and isinstance(value, Mapping):
        return {str(dataset): _age(f"{name}.{dataset}", age) for dataset, age in value.items()}
    if kind in (_AGE, _AGES):
        return {ANY_DATASET: _age(name, value)} if kind == _AGES else _age(name, value)
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else -1
    if kind == _COUNT and number >= 0 and float(number).is_integer():
        return float(number)
    if kind == _SHARE and 0 < number <= 1:
        return float(number)
    wanted = "a whole number, 0 or more" if kind == _COUNT else "a share between 0 and 1, e.g. 0.8"
    raise UsageError(f"{name} in [alerts] must be {wanted}, not {value!r}")


def parse_alerts(table: Mapping[str, object]) -> tuple[Threshold, ...]:
    """The `[alerts]` table checked (unknown names, bad limits and severities are one sentence each)."""
    severities = table.get("severity", {})
    if not isinstance(severities, Mapping):
        raise UsageError('[alerts.severity] must be a table of threshold = "fail" or "degrade"')
    for name, severity in severities.items():
        if name not in KNOWN or severity not in ("fail", "degrade"):
            raise UsageError(
                f'[alerts.severity] {name} = {severity!r}: expected one of {", ".join(KNOWN)} = "fail" or "degrade"'
            )
    thresholds = []
    for name, value in table.items():
        if name == "severity":
            continue
        if name not in KNOWN:
            raise UsageError(f"unknown threshold {name!r} in [alerts] (known: {', '.join(KNOWN)})")
        kind, severity = KNOWN[name]
        chosen = {"fail": Severity.FAIL, "degrade": Severity.DEGRADE}.get(str(severities.get(name)), severity)
        thresholds.append(Threshold(name, _limit(name, kind, value), chosen))
    return tuple(thresholds)


@dataclass(frozen=True)
class AlertFacts:
    """What the thresholds are judged on (`read_facts`)."""

    lags: Sequence[tuple[str, str, float]]  # (dataset, "market/dataset/interval/symbol", lag seconds)
    failed_files: int
    failed_streaks: Mapping[str, int]
    rest_weight_share: float | None
    stream_silence: float | None  # seconds since the newest event of a running stream; None: none runs


def read_facts(database: LakeDatabase, now: dt.datetime) -> AlertFacts:
    """The facts from the lake's records (read-only) and its stream's live status file."""
    lags: list[tuple[str, str, float]] = []
    failed, streaks, share = 0, {}, None
    if database.path.exists():
        with database.connect(read_only=True) as connection:
            tables = {
                str(r[0]) for r in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            if "day_provenance" in tables:
                for row in newest_days(connection).to_pylist():
                    end = dt.datetime.combine(row["newest"] + dt.timedelta(days=1), dt.time(), dt.UTC)
                    parts = (row["market"], row["dataset"], row["interval"], row["symbol"])
                    series = "/".join(str(p) for p in parts if p)
                    lags.append((row["dataset"], series, (now - end).total_seconds()))
            problems = problem_files(connection, schema="" if "file_state" in tables else None)
            failed = problems.column("status").to_pylist().count("failed")
            streaks = failed_streaks(connection)
            update = last_runs(connection).get("update")
            if update is not None and "rest_weight_share" in update.summary:
                share = float(update.summary["rest_weight_share"])
    return AlertFacts(lags, failed, streaks, share, _stream_silence(database.root, now))


def _stream_silence(root: Path, now: dt.datetime) -> float | None:
    newest: dt.datetime | None = None
    for path in (root / LIVE_STREAMS).glob("stream-*.json"):
        try:
            data = json.loads(path.read_text())
            if data.get("ended_at") is not None or not process_alive(int(data["pid"])):
                continue
            seen = dt.datetime.fromisoformat(str(data.get("last_event_at") or data["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        newest = seen if newest is None else max(newest, seen)
    return None if newest is None else max((now - newest).total_seconds(), 0.0)


def _text(limit: Any) -> str:
    if isinstance(limit, dt.timedelta):
        return f"{limit.total_seconds():g}s"
    if isinstance(limit, Mapping):
        return ", ".join(f"{k} {_text(v)}" for k, v in limit.items())
    return f"{limit:g}"


def _number(limit: Any) -> float | None:
    """The limit as one number (seconds for ages), or None for a per-dataset table."""
    if isinstance(limit, dt.timedelta):
        return limit.total_seconds()
    if isinstance(limit, Mapping):
        return _number(limit[ANY_DATASET]) if set(limit) == {ANY_DATASET} else None
    return float(limit)


def evaluate(thresholds: Sequence[Threshold], facts: AlertFacts) -> list[AlertState]:
    """Each threshold's state on `facts`."""
    return [_judge(t, facts) for t in thresholds]


def _judge(threshold: Threshold, facts: AlertFacts) -> AlertState:
    name, limit = threshold.name, threshold.limit

    def state(value: float | None, breached: bool, message: str) -> AlertState:
        number = _number(limit)
        return AlertState(
            name, _text(limit), value, breached, number, threshold.severity, f"{name}: {message}"
        )

    if name == "max_freshness_lag":
        over = []
        for dataset, series, lag in facts.lags:
            allowed = limit.get(dataset, limit.get(ANY_DATASET))
            if allowed is not None and lag > allowed.total_seconds():
                over.append((lag, series))
        worst = max((lag for _, _, lag in facts.lags), default=None)
        if over:
            lag, series = max(over)
            return state(
                worst, True, f"{len(over)} series behind their limit (worst {series}, {lag / 3600:.1f} h)"
            )
        return state(worst, False, "every series within its limit")
    if name == "max_failed_files":
        value = float(facts.failed_files)
        return state(
            value, value > limit, f"{facts.failed_files} file(s) failed in the last sync (limit {limit:g})"
        )
    if name == "max_failed_job_runs":
        job, streak = max(facts.failed_streaks.items(), key=lambda kv: kv[1], default=("-", 0))
        return state(
            float(streak), streak > limit, f"{streak} failed run(s) in a row of job {job} (limit {limit:g})"
        )
    if name == "max_rest_weight_share":
        share = facts.rest_weight_share
        if share is None:
            return state(None, False, "no update recorded its REST weight yet")
        return state(share, share > limit, f"the last update used {share:.0%} of the REST weight limit")
    silence = facts.stream_silence
    if silence is None:
        return state(None, True, "no stream is running")
    return state(
        silence, silence > limit.total_seconds(), f"the stream's newest event is {silence:.0f} s old"
    )


def check_alerts(database: LakeDatabase, table: Mapping[str, object], now: dt.datetime) -> list[AlertState]:
    """The `[alerts]` table's states on the lake now (empty when the table is)."""
    thresholds = parse_alerts(table)
    return evaluate(thresholds, read_facts(database, now)) if thresholds else []
