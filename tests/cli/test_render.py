"""Tables of query results: values are never markup and never cut, on a narrow terminal or piped."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from binance_lake.cli.render import OutputFormat, print_table, show

# The shape of `catalog earliest` / `status` rows whose symbol and dates were cut (`1000000B…`, `2025-02-…`).
WIDE = pa.table(
    {
        "market": ["um", "um"],
        "dataset": ["premiumIndexKlines", "klines"],
        "interval": ["1h", "1h"],
        "symbol": ["1000000BOBUSDT", "BTCUSDT"],
        "first_day": [dt.date(2025, 2, 1), dt.date(2019, 9, 8)],
        "last_day": [dt.date(2025, 11, 30), dt.date(2025, 11, 30)],
        "open_time": [dt.datetime(2025, 2, 1, 12), dt.datetime(2019, 9, 8, 17)],
        "files": [303, 2275],
        "bytes": [1234567890, 98765],
    }
)
WHOLE = ("1000000BOBUSDT", "premiumIndexKlines", "2025-02-01", "2025-11-30", "2019-09-08", "1234567890")


def terminal(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system=None, emoji=False), out


def pipe(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, emoji=False, soft_wrap=True), out


def test_a_narrow_terminal_never_cuts_a_symbol_or_a_date() -> None:
    for width in (40, 80, 120):
        target, out = terminal(width)
        print_table(WIDE, OutputFormat.TABLE, title="earliest", target=target)
        text = out.getvalue()
        for value in WHOLE:
            assert value in text, (width, value, text)
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width


def test_a_pipe_gets_the_natural_width_whatever_the_console_width() -> None:
    target, out = pipe(80)
    print_table(WIDE, OutputFormat.TABLE, target=target)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 + WIDE.num_rows  # three rules, the header, one line per row: nothing wrapped
    for value in (*WHOLE, "2025-02-01 12:00:00"):
        assert value in out.getvalue()
    assert max(len(line) for line in lines) > 80


def test_cells_headers_and_titles_are_data_not_markup() -> None:
    table = pa.table({"[bold]x": ["[/red]", ":x: [red]y[/]", "\\[z]"]})
    for target, out in (terminal(80), pipe()):
        print_table(table, OutputFormat.TABLE, title="[red]t :x:", target=target)
        text = out.getvalue()
        for value in ("[bold]x", "[/red]", ":x: [red]y[/]", "\\[z]", "[red]t :x:"):
            assert value in text, (value, text)
        assert "❌" not in text


def test_show_prints_a_renderable_table_at_natural_width_when_piped() -> None:
    from rich.table import Table

    view = Table()
    view.add_column("key")
    view.add_row("data/futures/um/daily/klines/1000000BOBUSDT/1h/1000000BOBUSDT-1h-2025-02-01.zip")
    target, out = pipe(40)
    show(view, target=target)
    assert "1000000BOBUSDT-1h-2025-02-01.zip" in out.getvalue()


WORD = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=24)


@settings(max_examples=60, deadline=None)
@given(
    columns=st.integers(1, 8),
    cells=st.lists(st.lists(WORD, min_size=1, max_size=3), min_size=8, max_size=24),
    width=st.integers(40, 160),
)
def test_every_word_of_every_cell_survives_any_width(
    columns: int, cells: list[list[str]], width: int
) -> None:
    names = [f"c{i}" for i in range(columns)]
    values = [" ".join(words) for words in cells]
    rows = [values[i : i + columns] for i in range(0, len(values) - columns + 1, columns)]
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})
    target, out = terminal(width)
    print_table(table, OutputFormat.TABLE, target=target)
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for row in rows:
        for value in row:
            for word in value.split():
                assert any(word in line for line in lines), (word, text)
