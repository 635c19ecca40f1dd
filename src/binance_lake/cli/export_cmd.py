"""`binance-lake export qlib | csv`: the lake's rows in another tool's format (`Lake.export_qlib`,
`Lake.export_csv`; the work is in `binance_lake.export`).

`export_app` is the `export` command group; other modules register their exporter on it
(`@export_app.command("postgres", cls=SettingsCommand)`) and cli/app.py adds the group once. Days the lake
lacks are one warning line on stderr; progress goes to stderr as sync's does (cli/progress.py); bad input exits 2, any other failure 1, with one sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.markup import escape

from binance_lake.cli.options import FORMAT
from binance_lake.cli.progress import ProgressDisplay, Shape, choose_shape
from binance_lake.cli.render import OutputFormat, err_console, print_record
from binance_lake.cli.state import SettingsCommand, state
from binance_lake.core.errors import UsageError

export_app = typer.Typer(
    help="Write the lake's rows in another tool's format (Qlib, CSV, …).", no_args_is_help=True
)

SYMBOLS: Any = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names.")
ALL: Any = typer.Option(False, "--all", help="Every symbol the lake holds for the series in the range.")
DELISTED: Any = typer.Option(
    False, "--include-delisted", help="With --all: also the symbols delisted since (no survivorship bias)."
)
START: Any = typer.Option(..., "--start", help="First day (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM, UTC).")
END: Any = typer.Option(
    None, "--end", help="Last day (YYYY-MM-DD), included, or a time, excluded (default: today)."
)
MARKET: Any = typer.Option("um", "--market", help="spot, um or cm.")


def _symbols(symbols: str | None, all_symbols: bool, include_delisted: bool) -> str | None:
    if (symbols is not None) == all_symbols:
        raise UsageError("give either --symbols or --all")
    if include_delisted and not all_symbols:
        raise UsageError("--include-delisted only applies with --all")
    return symbols


@contextmanager
def progress_display(fmt: OutputFormat) -> Iterator[ProgressDisplay]:
    """The exports' progress on stderr, as sync shows its own: bars on a terminal, else a line every few
    seconds (JSON lines with --format json). A failed export leaves its one sentence, not a last line."""
    display = ProgressDisplay(choose_shape(as_json=fmt is OutputFormat.JSON))
    with display:
        try:
            yield display
        except BaseException:
            display.shape = Shape.QUIET
            raise


def _report(summary: dict[str, Any], fmt: OutputFormat, title: str) -> None:
    for line in summary.get("missing", []):
        err_console.print(f"[yellow]warning:[/] {escape(str(line))}", highlight=False)
    print_record(summary, fmt, title=title)


@export_app.command("qlib", cls=SettingsCommand)
def qlib_command(
    ctx: typer.Context,
    freq: str = typer.Option(..., "--freq", help="Qlib frequency: 1min, 60min or day."),
    out: str = typer.Option(..., "--out", help="The Qlib data directory (provider_uri); created if missing."),
    symbols: str | None = SYMBOLS,
    all_symbols: bool = ALL,
    include_delisted: bool = DELISTED,
    start: str = START,
    end: str | None = END,
    market: str = MARKET,
    prefix: str | None = typer.Option(
        None, "--prefix", help="Instrument name prefix (default binance_<market>., e.g. binance_um.)."
    ),
    from_1min: bool = typer.Option(
        False, "--from-1min", help="Build 60min and day bars from 1m klines instead of 1h / 1d."
    ),
    from_1h: bool = typer.Option(False, "--from-1h", help="Build day bars from 1h klines instead of 1d."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Write klines as a Qlib dataset (calendars, instruments, features/*.bin) that pyqlib reads.

    A second export into the same --out appends the new bars in place, and rewrites a symbol whose stored
    history changed since. 60min from 1h fills hours 1h lacks from 1m where the lake holds them.
    """
    from binance_lake.lake import Lake

    chosen = _symbols(symbols, all_symbols, include_delisted)
    lake = Lake(settings=state(ctx).settings())
    with progress_display(fmt) as progress:
        report = lake.export_qlib(
            freq=freq,
            out=out,
            start=start,
            end=end,
            symbols=chosen,
            include_delisted=include_delisted,
            market=market,
            prefix=prefix,
            from_1min=from_1min,
            from_1h=from_1h,
            progress=progress,
        )
    _report(report.summary(), fmt, "export qlib")


@export_app.command("csv", cls=SettingsCommand)
def csv_command(
    ctx: typer.Context,
    out: str = typer.Option(..., "--out", help="Directory for the CSV files (the archive's layout)."),
    datasets: str = typer.Option("klines", "--datasets", help="Comma-separated, e.g. klines,fundingRate."),
    intervals: str | None = typer.Option(
        None, "--intervals", help="Comma-separated kline intervals, e.g. 1h,1m."
    ),
    symbols: str | None = SYMBOLS,
    all_symbols: bool = ALL,
    include_delisted: bool = DELISTED,
    start: str = START,
    end: str | None = END,
    market: str = MARKET,
    per_file: bool = typer.Option(
        False, "--per-file", help="One CSV per archive daily file instead of one per lake partition (month)."
    ),
    iso: bool = typer.Option(False, "--iso", help="Times as ISO 8601 UTC instead of the archive's epoch ms."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Write the lake's rows as CSV in the archive's layout and column names, header always present."""
    from binance_lake.lake import Lake

    chosen = _symbols(symbols, all_symbols, include_delisted)
    lake = Lake(settings=state(ctx).settings())
    with progress_display(fmt) as progress:
        report = lake.export_csv(
            out=out,
            start=start,
            end=end,
            datasets=datasets,
            intervals=intervals,
            symbols=chosen,
            include_delisted=include_delisted,
            market=market,
            per_file=per_file,
            iso=iso,
            progress=progress,
        )
    _report(report.summary(), fmt, "export csv")
