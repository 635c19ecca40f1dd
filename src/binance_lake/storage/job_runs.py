"""The owner of `job_runs`: one row per job the daemon ran (probe, update, check, …) with its outcome.

The daemon records a run when it starts (outcome `running`) and again when it ends, so a run cut short by
`kill -9` stays visible as `running` with no end, and the next start's catch-up sees when each job last began.
`daemon status` and the monitor read the last outcome of each job from here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from binance_lake.storage.database import Connection, LakeDatabase

JOB_RUNS = """
CREATE TABLE IF NOT EXISTS job_runs (
    run_id BIGINT PRIMARY KEY,
    job VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome VARCHAR NOT NULL,
    pid INTEGER,
    summary VARCHAR
)
"""


class Outcome(StrEnum):
    """How a job run ended (`running` until it does)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class JobRun:
    run_id: int
    job: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: Outcome
    pid: int | None
    summary: Mapping[str, Any]


def _writing(database: LakeDatabase) -> Any:
    # Imported here: storage.schema imports this module's DDL.
    from binance_lake.storage.schema import ensure_schema

    ensure_schema(database)
    return database.connect()


def start_run(database: LakeDatabase, job: str, started_at: dt.datetime, pid: int) -> int:
    """Record that `job` started; returns its run id."""
    with _writing(database) as connection:
        row = connection.execute("SELECT coalesce(max(run_id), 0) + 1 FROM job_runs").fetchone()
        run_id = int(row[0]) if row else 1
        connection.execute(
            "INSERT INTO job_runs VALUES (?, ?, ?, NULL, ?, ?, NULL)",
            [run_id, job, started_at, Outcome.RUNNING.value, pid],
        )
    return run_id


def finish_run(
    database: LakeDatabase,
    run_id: int,
    outcome: Outcome,
    finished_at: dt.datetime,
    summary: Mapping[str, Any],
) -> None:
    """Record how run `run_id` ended, with its figures (`summary`, stored as JSON)."""
    with _writing(database) as connection:
        connection.execute(
            "UPDATE job_runs SET outcome = ?, finished_at = ?, summary = ? WHERE run_id = ?",
            [outcome.value, finished_at, json.dumps(summary, default=str, sort_keys=True), run_id],
        )


def _run_of(row: tuple[Any, ...]) -> JobRun:
    return JobRun(
        run_id=int(row[0]),
        job=str(row[1]),
        started_at=row[2].astimezone(dt.UTC),
        finished_at=row[3].astimezone(dt.UTC) if row[3] is not None else None,
        outcome=Outcome(row[4]),
        pid=row[5],
        summary=json.loads(row[6]) if row[6] else {},
    )


def last_runs(connection: Connection) -> dict[str, JobRun]:
    """The latest run of each job (by start time), keyed by job name."""
    if not _has_table(connection):
        return {}
    rows = connection.execute(
        "SELECT * FROM job_runs QUALIFY row_number() OVER (PARTITION BY job ORDER BY started_at DESC, "
        "run_id DESC) = 1 ORDER BY job"
    ).fetchall()
    return {run.job: run for run in map(_run_of, rows)}


def last_runs_of(database: LakeDatabase) -> dict[str, JobRun]:
    """`last_runs` of a lake, read-only; a lake without a database yet has none."""
    if not database.path.exists():
        return {}
    with database.connect(read_only=True) as connection:
        return last_runs(connection)


def recent_runs(connection: Connection, limit: int = 20) -> list[JobRun]:
    """The last `limit` runs of any job, newest first."""
    if not _has_table(connection):
        return []
    rows = connection.execute(
        "SELECT * FROM job_runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit]
    ).fetchall()
    return [_run_of(row) for row in rows]


def failed_streaks(connection: Connection, limit: int = 100) -> dict[str, int]:
    """Per job, how many of its latest finished runs failed in a row (0 when the latest did not fail); a run
    still `running` is skipped, at most `limit` runs of each job are looked at."""
    if not _has_table(connection):
        return {}
    rows = connection.execute(
        "SELECT job, outcome FROM job_runs WHERE outcome <> ? QUALIFY row_number() OVER (PARTITION BY job "
        "ORDER BY started_at DESC, run_id DESC) <= ? ORDER BY job, started_at DESC, run_id DESC",
        [Outcome.RUNNING.value, limit],
    ).fetchall()
    streaks: dict[str, int] = {}
    ended: set[str] = set()
    for job, outcome in rows:
        streaks.setdefault(job, 0)
        if job in ended:
            continue
        if outcome == Outcome.FAILED.value:
            streaks[job] += 1
        else:
            ended.add(job)
    return streaks


def _has_table(connection: Connection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'job_runs'"
    ).fetchone()
    return bool(row and row[0])
