"""`report`: one self-contained HTML page of what the lake holds and how good it is.

Coverage heatmaps (symbols x days, or x months past `DAILY_CELLS_UP_TO` days, coloured by provenance and
by gap kind), the gap table, the findings per dataset and rule, rows and bytes over time, and the last sync
runs with their failures. Charts are plotly (the `report` extra): its JavaScript is inlined once, so the
page opens offline, and plotly's heatmap draws 500 symbols x 80 months as one trace. Everything is
aggregated in DuckDB before it reaches the page (a cell per symbol and bucket, tables capped at
`TABLE_ROWS`), which keeps the file small and the browser fast whatever the lake's size.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from binance_lake.core.errors import StorageError, UsageError
from binance_lake.core.provenance import Provenance
from binance_lake.core.timerange import DateLike, parse_date
from binance_lake.quality.store import (
    FINDINGS_SCHEMA,
    GAPS_SCHEMA,
    _has_runs,
    last_run,
    run_findings,
    run_gaps,
)
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import partition_table
from binance_lake.storage.provenance import held_bounds, provenance_cells
from binance_lake.storage.state_reads import sync_runs_table

DAILY_CELLS_UP_TO = 183
TABLE_ROWS = 500
SOURCES = [p.value for p in Provenance]
GAP_KINDS = [
    "maintenance",
    "upstream",
    "missing-file",
    "not-yet",
    "delisted",
    "quarantined",
    "not-synced",
    "unlisted",
]


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        import plotly.offline
    except ImportError:
        raise UsageError("the report needs plotly: pip install 'binance-lake[report]'") from None
    return go, plotly.offline


def _day(value: DateLike | None, default: dt.date) -> dt.date:
    if value is None:
        return default
    if isinstance(value, dt.date):
        return value if not isinstance(value, dt.datetime) else value.date()
    return parse_date(value[:10])


def _query(sql: str, tables: dict[str, pa.Table], params: dict[str, Any] | None = None) -> pa.Table:
    connection = duckdb.connect()
    try:
        for name, table in tables.items():
            connection.register(name, table)
        result: pa.Table = connection.sql(sql, params=params or {}).to_arrow_table()
    finally:
        connection.close()
    return result


def _table_html(table: pa.Table, element_id: str, *, limit: int = TABLE_ROWS) -> str:
    names = table.schema.names
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for row in table.slice(0, limit).to_pylist():
        cells = "".join(f"<td>{html.escape('' if row[n] is None else str(row[n]))}</td>" for n in names)
        body.append(f"<tr>{cells}</tr>")
    more = (
        f'<p class="more">{table.num_rows - limit:,} more rows not shown (the lake.duckdb tables hold all)</p>'
        if table.num_rows > limit
        else ""
    )
    return (
        f'<table id="{element_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'
    )


def _heatmap(go: Any, cells: pa.Table, value_of: str, labels: list[str], title: str) -> Any:
    """One categorical heatmap: y symbols, x buckets, z the index of the cell's label (-1: nothing)."""
    symbols = sorted({str(s) for s in cells.column("symbol").to_pylist()})
    buckets = sorted({b for b in cells.column("bucket").to_pylist() if b is not None})
    y_index = {s: i for i, s in enumerate(symbols)}
    x_index = {b: i for i, b in enumerate(buckets)}
    z: list[list[float | None]] = [[None] * len(buckets) for _ in symbols]
    for symbol, bucket, value in zip(
        cells.column("symbol").to_pylist(),
        cells.column("bucket").to_pylist(),
        cells.column(value_of).to_pylist(),
        strict=True,
    ):
        z[y_index[str(symbol)]][x_index[bucket]] = float(labels.index(str(value)))
    palette = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#7f7f7f"]
    n = max(len(labels) - 1, 1)
    scale = []
    for i, _ in enumerate(labels):
        scale += [
            [max(i - 0.5, 0) / n, palette[i % len(palette)]],
            [min(i + 0.5, n) / n, palette[i % len(palette)]],
        ]
    figure = go.Figure(
        go.Heatmap(
            z=z, x=[str(b) for b in buckets], y=symbols, zmin=0, zmax=n, colorscale=scale,
            colorbar={"tickvals": list(range(len(labels))), "ticktext": labels},
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
            text=[[labels[int(v)] if v is not None else "" for v in row] for row in z],
        )
    )  # fmt: skip
    figure.update_layout(title=title, height=max(300, min(20 * len(symbols) + 120, 1600)), margin={"l": 120})
    return figure


def _figure_html(plotly_offline: Any, figure: Any, element_id: str) -> str:
    div = plotly_offline.plot(
        figure, output_type="div", include_plotlyjs=False, auto_open=False, config={"responsive": True}
    )
    return f'<section id="{element_id}" class="chart">{div}</section>'


def build_report(
    database: LakeDatabase,
    *,
    symbols: Sequence[str] = (),
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> tuple[str, dict[str, Any]]:
    """The page's HTML and a summary (cells, gaps, findings shown)."""
    go, plotly_offline = _plotly()
    if not database.path.exists():
        raise StorageError(f"no lake at {database.root}: nothing to report")
    with database.connect(read_only=True) as connection:
        lo, hi = held_bounds(connection)
        if lo is None or hi is None:
            raise StorageError(f"the lake at {database.root} holds no data: nothing to report")
        first, last = _day(start, lo), _day(end, hi)
        monthly = (last - first).days + 1 > DAILY_CELLS_UP_TO
        cells = provenance_cells(connection, monthly=monthly, symbols=symbols, first=first, last=last)
        partitions = partition_table(connection)
        runs = sync_runs_table(connection, limit=20)
        run = last_run(connection) if _has_runs(connection) else None
        findings = run_findings(connection, run[0]) if run else FINDINGS_SCHEMA.empty_table()
        gaps = run_gaps(connection, run[0]) if run else GAPS_SCHEMA.empty_table()
    wanted = {"symbols": list(symbols), "first": first, "last": last}
    # The dominant source of each cell (most days), and the gap kind of each cell (most days missing).
    provenance = _query(
        "SELECT symbol, bucket, arg_max(source, days) AS source FROM cells GROUP BY ALL", {"cells": cells}
    )
    bucket = "date_trunc('month', d)::DATE" if monthly else "d"
    gap_cells = _query(
        f"""
        SELECT symbol, bucket, arg_max(kind, n) AS kind FROM (
            SELECT symbol, {bucket} AS bucket, kind, count(*) AS n FROM (
                SELECT symbol, kind, unnest(generate_series(greatest(first_day, $first), least(last_day, $last),
                                                            INTERVAL 1 DAY))::DATE AS d
                FROM gaps WHERE (len($symbols) = 0 OR list_contains($symbols, symbol))
                  AND last_day >= $first AND first_day <= $last)
            GROUP BY ALL)
        GROUP BY ALL
        """,
        {"gaps": gaps},
        wanted,
    )
    sizes = _query(
        "SELECT date_trunc('month', period)::DATE AS month, sum(\"rows\")::BIGINT AS rows, "
        "sum(size)::BIGINT AS bytes FROM p WHERE period BETWEEN date_trunc('month', $first::DATE) AND $last "
        "AND (len($symbols) = 0 OR list_contains($symbols, symbol)) GROUP BY ALL ORDER BY month",
        {"p": partitions},
        wanted,
    )
    gap_table = _query(
        'SELECT kind, market, dataset, "interval", symbol, first_day, last_day, start_time, end_time, bars, detail '
        "FROM gaps WHERE (len($symbols) = 0 OR list_contains($symbols, symbol)) "
        "AND last_day >= $first AND first_day <= $last ORDER BY kind, market, dataset, symbol, first_day",
        {"gaps": gaps},
        wanted,
    )
    per_rule = _query(
        "SELECT dataset, rule, severity, count(*) AS findings, count(DISTINCT symbol) AS symbols FROM f "
        "GROUP BY ALL ORDER BY severity, dataset, rule",
        {"f": findings},
    )
    run_rows = [
        {
            "started_at": str(r["started_at"])[:19],
            "seconds": round((r["finished_at"] - r["started_at"]).total_seconds(), 1)
            if r["finished_at"]
            else None,
            **_run_summary(r["summary"]),
        }
        for r in runs.to_pylist()
    ]
    figures = [
        ("heatmap-provenance", _heatmap(go, provenance, "source", SOURCES, "coverage by provenance")),
        ("heatmap-gaps", _heatmap(go, gap_cells, "kind", GAP_KINDS, "gaps by kind")),
    ]
    trend = go.Figure()
    trend.add_trace(
        go.Scatter(
            x=[str(m) for m in sizes.column("month").to_pylist()],
            y=sizes.column("rows").to_pylist(),
            name="rows",
        )
    )
    trend.add_trace(
        go.Scatter(
            x=[str(m) for m in sizes.column("month").to_pylist()],
            y=sizes.column("bytes").to_pylist(),
            name="bytes",
            yaxis="y2",
        )
    )
    trend.update_layout(title="rows and bytes per month", yaxis={"title": "rows"}, yaxis2={"title": "bytes", "overlaying": "y", "side": "right"})  # fmt: skip
    figures.append(("sizes", trend))
    summary = {
        "cells": provenance.num_rows,
        "gaps": gap_table.num_rows,
        "findings": findings.num_rows,
        "monthly": monthly,
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
    title = f"binance-lake report: {html.escape(str(database.root))}"
    check = (
        f"last check {html.escape(str(run[1])[:19])}: {json.dumps(run[2].get('findings', {}))} findings"
        if run
        else "the lake was never checked: run `binance-lake check` for findings and gaps"
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>{_STYLE}</style>",
        f"<script type='text/javascript'>{plotly_offline.get_plotlyjs()}</script></head><body>",
        f"<h1>{title}</h1><p>{first} .. {last} ({'months' if monthly else 'days'}); {check}</p>",
        *(_figure_html(plotly_offline, fig, fid) for fid, fig in figures[:2]),
        f"<h2>gaps ({gap_table.num_rows:,})</h2>",
        _table_html(gap_table, "gaps"),
        f"<h2>findings per dataset and rule ({findings.num_rows:,})</h2>",
        _table_html(per_rule, "findings"),
        _table_html(findings, "finding-rows"),
        _figure_html(plotly_offline, figures[2][1], "sizes"),
        "<h2>last sync runs</h2>",
        _table_html(pa.Table.from_pylist(run_rows) if run_rows else pa.table({"started_at": pa.array([], pa.string())}), "runs"),
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts), summary


def _run_summary(text: str | None) -> dict[str, Any]:
    try:
        summary = json.loads(text or "{}")
    except ValueError:
        summary = {}
    return {
        "datasets": ",".join(summary.get("datasets", [])),
        "symbols": len(summary.get("symbols", [])),
        "ingested_files": summary.get("ingested_files"),
        "rows": summary.get("rows"),
        "failed": len(summary.get("failed", [])),
        "quarantined": len(summary.get("quarantined", [])),
        "errors": "; ".join(f"{f['key']}: {f['error']}" for f in summary.get("failed", [])[:3]),
    }


def write_report(
    database: LakeDatabase,
    out: Path,
    *,
    symbols: Sequence[str] = (),
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> Path:
    """Write the page to `out` (its directory must exist); returns the path."""
    page, _ = build_report(database, symbols=symbols, start=start, end=end)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write the report to {out}: {error.strerror}") from None
    return out


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; }
p.more { color: #666; font-size: 0.85em; }
"""
