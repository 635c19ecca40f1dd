"""The daemon's jobs: each a `Lake` call that returns its figures as a small JSON-able dict.

A job takes the lake, a progress sink (the daemon's metrics and live status file) and the metrics (for
figures beyond progress, e.g. REST weight). It returns its figures, with `"ok": False` when it ran to the end
but did not fully succeed (failed files); it raises a `BinanceLakeError` when it fails (the daemon records the
sentence and carries on with the next job) and lets `KeyboardInterrupt` through (SIGTERM: the daemon
records the job as interrupted and stops). `JOBS` maps the names of `schedule.JOB_ORDER` to their function; a
name without a function is not runnable yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from binance_lake.binance.rest_weight import WEIGHT_LIMIT
from binance_lake.core.progress import ProgressSink
from binance_lake.core.settings import Settings
from binance_lake.lake import Lake
from binance_lake.ops.metrics import Metrics
from binance_lake.storage import objects

Job = Callable[[Lake, ProgressSink, Metrics], Mapping[str, Any]]


def probe(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """HEAD yesterday's and the day before's daily files of every active series (catalog probe)."""
    report = lake.catalog.probe(days_back=2, progress=progress)
    return {"probed": report.probed, "found": report.found, "missing": len(report.missing)}


def update(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """Bring every series the lake holds to the last closed bar (`Lake.update`, its defaults: last 3 days)."""
    report = lake.update(progress=progress)
    for host, weight in report.fill.peak_weight.items():
        metrics.rest_weight.labels(host).set(weight)
    # For `[alerts] max_rest_weight_share`: the busiest host's peak minute against Binance's limit.
    share = max((w / WEIGHT_LIMIT for w in report.fill.peak_weight.values()), default=0.0)
    summary = report.summary()
    archive = summary["archive"]
    assert isinstance(archive, dict)
    return {
        "ok": report.ok,
        "series": len(report.series),
        "ingested": archive["ingested_files"],
        "rows": report.rows,
        "rest_rows": report.fill.rows,
        "rest_requests": report.fill.requests,
        "reconciled": len(report.reconciled),
        "overdue": len(report.overdue),
        "rest_weight_share": round(share, 4),
    }


def check(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """Integrity, quality rules and gaps of the whole lake (`Lake.check`), recorded for the report.

    The job is ok when the check ran, whatever it found: its findings are the report's and `health`'s to
    judge (`clean` says whether there were any); a failed job is one whose work was not done."""
    report = lake.check()
    summary = report.summary()
    return {"clean": report.ok, "findings": summary["findings"], "gaps": summary["gaps"]}


def compact(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """Compact the closed years whose partitions changed (`Lake.compact`); years already current are only
    checked (a footer read each), so running it after every update costs little."""
    return lake.compact().summary()


REPORT_PATH = "reports/report.html"
"""Where the daemon's `report` job writes, under the lake root."""


def report(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """The HTML report of the lake's last check (`Lake.report`) at `<root>/reports/report.html`."""
    out = lake.root / REPORT_PATH
    out.parent.mkdir(parents=True, exist_ok=True)
    written = lake.report(out)
    if objects.located(written) is not None:
        objects.put_file(
            written, written
        )  # an s3:// lake's report goes to the bucket too (storage/objects.py)
    return {"path": str(written), "bytes": written.stat().st_size}


JOBS: Mapping[str, Job] = {
    "probe": probe,
    "update": update,
    "check": check,
    "report": report,
    "compact": compact,
}
"""The jobs every lake can run; `jobs_for` adds the ones its settings configure."""


def jobs_for(settings: Settings) -> Mapping[str, Job]:
    """`JOBS` plus the export jobs `settings` configures (`ops.exports`; their tables checked here)."""
    from binance_lake.ops import exports

    configured = {"export_qlib": exports.export_qlib, "export_postgres": exports.export_postgres}
    return {**JOBS, **{job: configured[job] for job in exports.configured_jobs(settings)}}


NEEDS: Mapping[str, str] = {"export_qlib": "[export.qlib]", "export_postgres": "[export.postgres]"}
"""The config table a job needs before it can be scheduled."""
