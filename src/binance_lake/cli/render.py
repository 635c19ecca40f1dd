"""Rendering query results: a rich table for people, CSV or JSON for pipes (`--format`).

Values are data, never markup: every cell, header and title is a `Text`, and the shared consoles do not
replace `:emoji:` codes. A table never cuts a value: on a terminal it uses the terminal's width, wrapping
cells only at spaces and falling back to narrower layouts (no borders, then one block per row); piped, it is
printed at its natural width, however wide, and text is not wrapped at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pyarrow as pa

# Piped output has no width: lines are not wrapped (soft_wrap) and tables get their natural width (`show`).
console = Console(emoji=False) if sys.stdout.isatty() else Console(emoji=False, soft_wrap=True)
err_console = Console(stderr=True, emoji=False, soft_wrap=not sys.stderr.isatty())

_UNBOUNDED = 1 << 20
_WORD = re.compile(r"\S+")


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
    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue().decode()


def format_json(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=_json_default, indent=1)


class _Natural:
    """A renderable drawn at its own natural width whatever the console's width (for pipes and files)."""

    def __init__(self, renderable: RenderableType, width: int) -> None:
        self.renderable = renderable
        self.width = width

    def __rich_console__(self, target: Console, options: ConsoleOptions) -> RenderResult:
        yield from target.render(self.renderable, options.update(width=self.width, no_wrap=False))


def show(view: RenderableType, *, target: Console | None = None) -> None:
    """Print a table: piped, at its natural width (never truncated); on a terminal, as rich lays it out."""
    target = target or console
    if target.is_terminal:
        target.print(view)
        return
    natural = Measurement.get(target, target.options.update_width(_UNBOUNDED), view).maximum
    target.print(_Natural(view, max(natural, 1)), crop=False, soft_wrap=False)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in _WORD.findall(text)), default=0)


def _widths(header: Sequence[str], rows: Sequence[Sequence[str]], room: int) -> list[int] | None:
    """Column widths that fit `room` cells without splitting a word, or None when no such widths exist."""
    columns = list(zip(header, *rows, strict=True))
    longest = [
        max(cell_len(line) for cell in column for line in cell.splitlines() or [""]) for column in columns
    ]
    least = [max(1, max(_longest_word(cell) for cell in column)) for column in columns]
    if sum(longest) <= room:
        return longest
    if sum(least) > room:
        return None
    # Every column gets its longest word; the room left goes to the columns that would still wrap, in turn.
    widths = list(least)
    spare = room - sum(widths)
    while spare > 0:
        short = [i for i, w in enumerate(widths) if w < longest[i]]
        if not short:
            break
        for i in short:
            if spare == 0:
                break
            widths[i] += 1
            spare -= 1
    return widths


def _grid(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    title: str | None,
    widths: Sequence[int] | None,
    *,
    boxed: bool,
) -> Table:
    options: dict[str, Any] = {} if boxed else {"box": None, "pad_edge": False, "collapse_padding": True}
    view = Table(title=Text(title) if title else None, header_style="bold", **options)
    for index, name in enumerate(header):
        view.add_column(Text(name), width=None if widths is None else widths[index], overflow="fold")
    for row in rows:
        view.add_row(*(Text(value) for value in row))
    return view


def _records(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None) -> Iterator[Table]:
    """The narrowest layout: one block of `name  value` lines per row."""
    for number, row in enumerate(rows, 1):
        block = Table(
            title=Text(f"{title} #{number}" if title else f"#{number}"),
            box=None,
            pad_edge=False,
            show_header=False,
            title_justify="left",
        )
        block.add_column(style="bold", no_wrap=True)
        block.add_column(overflow="fold")
        for name, value in zip(header, row, strict=True):
            block.add_row(Text(name), Text(value))
        yield block


def _layout(
    header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None, width: int
) -> list[Table]:
    """The widest layout whose every word fits in `width` cells: bordered, borderless, then per-row blocks."""
    count = len(header)
    boxed = _widths(
        header, rows, width - (3 * count + 1)
    )  # a border between columns, one cell of padding each side
    if boxed is not None:
        return [_grid(header, rows, title, boxed, boxed=True)]
    bare = _widths(header, rows, width - (count - 1))  # one space between columns, no edges
    if bare is not None:
        return [_grid(header, rows, title, bare, boxed=False)]
    return list(_records(header, rows, title))


def print_table(
    table: pa.Table,
    fmt: OutputFormat,
    *,
    title: str | None = None,
    limit: int | None = None,
    target: Console | None = None,
) -> None:
    """Print `table` in the chosen format; the rich table shows at most `limit` rows and says so."""
    target = target or console
    if fmt is OutputFormat.CSV:
        target.file.write(format_csv(table))
        return
    if fmt is OutputFormat.JSON:
        target.file.write(format_json(table) + "\n")
        return
    shown = table if limit is None else table.slice(0, limit)
    header = list(table.column_names)
    rows = [[_cell(row[name]) for name in header] for row in shown.to_pylist()]
    if target.is_terminal:
        for view in _layout(header, rows, title, target.width):
            target.print(view)
    else:
        show(_grid(header, rows, title, None, boxed=True), target=target)
    if limit is not None and table.num_rows > limit:
        target.print(f"… {table.num_rows - limit} more rows (use --format csv for all)", markup=False)
    elif table.num_rows == 0:
        target.print("no rows", markup=False)


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
    view = Table(title=Text(title) if title else None, show_header=False)
    for name, value in record.items():
        view.add_row(Text(name), Text(_cell(value)))
    show(view)
