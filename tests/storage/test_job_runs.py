"""`storage.job_runs.failed_streaks`: consecutive failed runs per job, newest first, a run in flight skipped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.job_runs import Outcome, failed_streaks, finish_run, start_run

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_failed_streaks_count_the_newest_failures_in_a_row(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    history = {
        "update": [Outcome.FAILED, Outcome.OK, Outcome.FAILED, Outcome.FAILED, Outcome.RUNNING],
        "probe": [Outcome.FAILED, Outcome.OK],
        "check": [Outcome.INTERRUPTED, Outcome.FAILED],
    }
    for job, outcomes in history.items():
        for minute, outcome in enumerate(outcomes):
            started = T0 + dt.timedelta(minutes=minute)
            run = start_run(database, job, started, 1)
            if outcome is not Outcome.RUNNING:
                finish_run(database, run, outcome, started, {})
    with database.connect(read_only=True) as connection:
        assert failed_streaks(connection) == {"update": 2, "probe": 0, "check": 1}
    with LakeDatabase(tmp_path / "empty").connect() as connection:
        assert failed_streaks(connection) == {}
