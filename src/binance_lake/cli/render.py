"""Rendering query results: a rich table for people, CSV or JSON for pipes (`--format`)."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

# Piped output gets 120 columns rather than rich's 80, so tables stay readable in logs and files.
console = Console() if sys.stdout.isatty() else Console(width=120)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def format_csv(table: pa.Table) -> str:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue().decode()


def format_json(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=_json_default, indent=1)


def print_table(
    table: pa.Table, fmt: OutputFormat, *, title: str | None = None, limit: int | None = None
) -> None:
    """Print `table` in the chosen format; the rich table shows at most `limit` rows and says so."""
    if fmt is OutputFormat.CSV:
        console.file.write(format_csv(table))
        return
    if fmt is OutputFormat.JSON:
        console.file.write(format_json(table) + "\n")
        return
    shown = table if limit is None else table.slice(0, limit)
    view = Table(title=title, header_style="bold")
    for name in table.column_names:
        view.add_column(name)
    for row in shown.to_pylist():
        view.add_row(*(_cell(row[name]) for name in table.column_names))
    console.print(view)
    if limit is not None and table.num_rows > limit:
        console.print(f"… {table.num_rows - limit} more rows (use --format csv for all)")
    elif table.num_rows == 0:
        console.print("no rows")
