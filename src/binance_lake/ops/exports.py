"""The daemon's export jobs: `export_qlib` and `export_postgres`, from `[export.qlib]` / `[export.postgres]`.

Each table's keys are the options of `binance-lake export qlib` / `export postgres`, spelled with `_` or `-`
(`freq`, `out`, `symbols`, `start`, `end`, `market`, `prefix`, `from_1min`, `from_1h`, `include_delisted` /
`dsn`, `market`, `datasets`, `intervals`, `symbols`, `start`, `end`, `schema`, `timescale`); `[[export.qlib]]`
gives several exports of a kind, run in order by one job. No `symbols` means every symbol the lake holds
(`--all`). A relative `out` is under the lake root: a detached daemon's working directory is nobody's choice.
The postgres `dsn` may come from `BINANCE_LAKE_POSTGRES_DSN`, as for the command.

Both exporters are incremental (Qlib appends the new bars in place; PostgreSQL copies only the series that
changed), so running them after every update costs little more than the new rows. A configured export is a
follow-up of `update` (`schedule.FOLLOW_UPS`) unless `[schedule]` gives it a cron expression of its own.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.core.progress import ProgressSink
from binance_lake.core.settings import Settings
from binance_lake.lake import Lake
from binance_lake.ops.metrics import Metrics

DSN_ENV = "BINANCE_LAKE_POSTGRES_DSN"

_TEXT = "text"
_FLAG = "flag"
_NAMES = "names"  # a comma-separated string or a list of strings
_DAY = "day"  # a TOML date, or text the exporter parses

KEYS: Mapping[str, Mapping[str, str]] = {
    "qlib": {
        "freq": _TEXT,
        "out": _TEXT,
        "symbols": _NAMES,
        "include_delisted": _FLAG,
        "start": _DAY,
        "end": _DAY,
        "market": _TEXT,
        "prefix": _TEXT,
        "from_1min": _FLAG,
        "from_1h": _FLAG,
    },
    "postgres": {
        "dsn": _TEXT,
        "market": _TEXT,
        "datasets": _NAMES,
        "intervals": _NAMES,
        "symbols": _NAMES,
        "start": _DAY,
        "end": _DAY,
        "schema": _TEXT,
        "timescale": _TEXT,
    },
}
"""Per export kind, its keys and their kind of value."""

REQUIRED: Mapping[str, tuple[str, ...]] = {"qlib": ("freq", "out", "start"), "postgres": ()}


@dataclass(frozen=True)
class ExportSpec:
    """One configured export: its kind and its checked options (the `Lake.export_*` keyword arguments)."""

    kind: str
    options: Mapping[str, Any]

    @property
    def job(self) -> str:
        return f"export_{self.kind}"


def _value(where: str, key: str, kind: str, value: object) -> Any:
    if kind == _FLAG:
        if not isinstance(value, bool):
            raise UsageError(f"{key} in {where} must be true or false, not {value!r}")
        return value
    if kind == _NAMES:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        if not isinstance(value, str):
            raise UsageError(f"{key} in {where} must be a list of names or one comma-separated string")
        return value
    if kind == _DAY and isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise UsageError(f"{key} in {where} must be text in quotes, not {value!r}")
    return value


def parse_exports(settings: Settings) -> tuple[ExportSpec, ...]:
    """Every configured export, checked: unknown kinds and keys, wrong types and missing keys are one
    sentence each (`UsageError`)."""
    specs = []
    for kind, tables in settings.exports.items():
        if kind not in KEYS:
            raise UsageError(f"unknown export [export.{kind}] (known: {', '.join(KEYS)})")
        for table in tables:
            where = f"[export.{kind}]"
            options: dict[str, Any] = {}
            for raw, value in table.items():
                key = raw.replace("-", "_")
                if key not in KEYS[kind]:
                    raise UsageError(f"unknown key {raw!r} in {where} (known: {', '.join(KEYS[kind])})")
                options[key] = _value(where, key, KEYS[kind][key], value)
            if kind == "postgres" and "dsn" not in options:
                if not os.environ.get(DSN_ENV):
                    raise UsageError(
                        f'{where} needs dsn = "postgresql://…" (or {DSN_ENV} in the environment)'
                    )
                options["dsn"] = os.environ[DSN_ENV]
            missing = [key for key in REQUIRED[kind] if key not in options]
            if missing:
                raise UsageError(
                    f"{where} needs {', '.join(missing)} (as `export {kind}` needs --{missing[0]})"
                )
            if kind == "qlib":
                out = Path(options["out"]).expanduser()
                options["out"] = out if out.is_absolute() else settings.root.expanduser() / out
            specs.append(ExportSpec(kind, options))
    return tuple(specs)


def export_qlib(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """Every `[export.qlib]` export, in order (`Lake.export_qlib`, incremental in place)."""
    results: list[dict[str, Any]] = []
    for spec in parse_exports(lake.settings):
        if spec.kind == "qlib":
            summary = lake.export_qlib(**spec.options).summary()
            results.append(
                {k: summary[k] for k in ("out", "symbols", "rows", "files_written", "files_appended")}
            )
    return {"exports": results, "rows": sum(int(r["rows"]) for r in results)}


def export_postgres(lake: Lake, progress: ProgressSink, metrics: Metrics) -> Mapping[str, Any]:
    """Every `[export.postgres]` export, in order (`Lake.export_postgres`: only what changed is copied)."""
    results: list[dict[str, Any]] = []
    for spec in parse_exports(lake.settings):
        if spec.kind == "postgres":
            options = dict(spec.options)
            if "symbols" in options:
                options["symbols"] = lake.settings.expand_symbols(options["symbols"])
            report = lake.export_postgres(options.pop("dsn"), **options)
            copied = sum(t.exported for t in report.tables)
            results.append({"schema": report.schema, "rows": report.rows, "copied": copied})
    return {"exports": results, "rows": sum(int(r["rows"]) for r in results)}


def configured_jobs(settings: Settings) -> tuple[str, ...]:
    """The export jobs `settings` configures (`export_qlib`, `export_postgres`), checked."""
    return tuple(dict.fromkeys(spec.job for spec in parse_exports(settings)))
