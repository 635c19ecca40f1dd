"""Rendering query results: a rich table for people, CSV or JSON for pipes (`--format`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from decimal import Decimal
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


def _json_default(value: Any) -> str | int | float:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):  # a number stays a number (a DuckDB HUGEINT sum arrives as a Decimal)
        return int(value) if value == value.to_integral_value() else float(value)
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


def _csv_cell(value: Any) -> object:
    if isinstance(value, list | dict):
        return json.dumps(value, default=_json_default)
    if isinstance(value, bool):
        return "true" if value else "false"  # as Arrow's CSV writer spells them
    return "" if value is None else value


def print_record(record: dict[str, Any], fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print one report (a command's summary) in the chosen format: JSON keeps its numbers and lists; CSV is
    one header line and one row (lists and mappings as JSON); a table is a field/value list."""
    if fmt is OutputFormat.JSON:
        console.file.write(json.dumps(record, default=_json_default, indent=1) + "\n")
        return
    if fmt is OutputFormat.CSV:
        sink = io.StringIO()
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(record)
        writer.writerow(_csv_cell(v) for v in record.values())
        console.file.write(sink.getvalue())
        return
    view = Table(title=title, show_header=False)
    for name, value in record.items():
        view.add_row(name, _cell(value))
    console.print(view)
