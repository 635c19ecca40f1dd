"""The daemon's jobs: each a `Lake` call that returns its figures as a small JSON-able dict.

A job takes the lake and a progress sink (the daemon's metrics and live status file); it raises a
`BinanceLakeError` when it fails (the daemon records the sentence and carries on with the next job) and lets
`KeyboardInterrupt` through (SIGTERM: the daemon records the job as interrupted and stops). `JOBS` maps the
names of `schedule.JOB_ORDER` to their function; a name without a function is not runnable yet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from binance_lake.core.progress import ProgressSink
from binance_lake.lake import Lake

Job = Callable[[Lake, ProgressSink], Mapping[str, Any]]

UPDATE_DAYS_BACK = 3
"""Seed 000's `daily_update.py` default: the update looks this many days back."""


def probe(lake: Lake, progress: ProgressSink) -> Mapping[str, Any]:
    """HEAD yesterday's and the day before's daily files of every active series (catalog probe)."""
    report = lake.catalog.probe(days_back=2, progress=progress)
    return {"probed": report.probed, "found": report.found, "missing": len(report.missing)}


def update(lake: Lake, progress: ProgressSink) -> Mapping[str, Any]:
    """Bring every series the lake holds up to date over the last `UPDATE_DAYS_BACK` days."""
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=UPDATE_DAYS_BACK)
    held = lake.status(as_="arrow").to_pylist()
    groups: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for row in held:
        if row["files_ingested"]:
            groups[(row["market"], row["dataset"], row["interval"])].append(row["symbol"])
    totals = {"series": 0, "ingested": 0, "failed": 0, "rows": 0}
    for (market, dataset, interval), symbols in sorted(groups.items(), key=str):
        report = lake.sync(
            market=market,
            datasets=[dataset],
            intervals=[interval] if interval else None,
            symbols=symbols,
            start=start,
            end=today,
            progress=progress,
        )
        totals["series"] += len(symbols)
        if report.execution is not None:
            totals["ingested"] += report.execution.ingested
            totals["failed"] += len(report.execution.failures)
            totals["rows"] += report.execution.rows
    return totals


JOBS: Mapping[str, Job] = {"probe": probe, "update": update}
