"""`binance-lake export postgres`: copy the lake's series into PostgreSQL / TimescaleDB (Lake.export_postgres).

`register(export_app)` adds the command to the `export` group. Prints one row per table and timeframe
(series, copied, up to date, rows) and, on stderr, the days the lake lacks of the asked range.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from binance_lake.cli.export_cmd import progress_display
from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, err_console, print_table
from binance_lake.cli.state import SettingsCommand, state


def export_postgres_command(
    ctx: typer.Context,
    dsn: str = typer.Option(
        ...,
        "--dsn",
        envvar="BINANCE_LAKE_POSTGRES_DSN",
        help="PostgreSQL database, e.g. postgresql://user@host:5432/db (env BINANCE_LAKE_POSTGRES_DSN).",
    ),
    market: str = typer.Option("um", "--market", help="spot, um or cm (one market a schema)."),
    datasets: str | None = typer.Option(
        None,
        "--datasets",
        help="Comma-separated: klines, markPriceKlines, metrics, fundingRate, liquidationSnapshot "
        "(default: every one the lake holds).",
    ),
    intervals: str | None = typer.Option(
        None,
        "--intervals",
        help="Comma-separated kline intervals, e.g. 1h,1m (default: every one the lake holds).",
    ),
    symbols: str | None = typer.Option(
        None, "--symbols", help="Comma-separated symbols or @set names (default: every one held)."
    ),
    all_symbols: bool = typer.Option(False, "--all", help="Every symbol the lake holds (the default)."),
    start: str | None = typer.Option(
        None, "--start", help="First day or time, included (default: all held)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="Last day, included; or a time, excluded (default: today)."
    ),
    schema: str = typer.Option("public", "--schema", help="PostgreSQL schema for the tables."),
    timescale: str = typer.Option(
        "auto",
        "--timescale",
        help="auto: hypertables when the server has TimescaleDB; on: require it; off: plain PostgreSQL.",
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Copy klines (ohlcv), mark-price klines (mark_price), metrics (open_interest, long_short_ratio),
    funding (funding_rate) and liquidations into PostgreSQL; re-running copies only what changed.

    Writes go through binary COPY and one merge per batch, so a re-run never duplicates, a provisional row
    the lake has replaced is replaced, and an interrupted export resumes where it stopped.
    """
    from binance_lake.core.errors import UsageError
    from binance_lake.lake import Lake

    if symbols is not None and all_symbols:
        raise UsageError("give --symbols or --all, not both")
    lake = Lake(settings=state(ctx).settings())
    chosen = lake.settings.expand_symbols(symbols) if symbols is not None else None
    with progress_display(fmt) as progress:
        report = lake.export_postgres(
            dsn,
            market=market,
            datasets=datasets,
            intervals=intervals,
            symbols=chosen,
            start=start,
            end=end,
            schema=schema,
            timescale=timescale,
            progress=progress,
        )
    for line in report.missing:
        err_console.print(f"[yellow]warning:[/] the lake lacks {escape(line)}", highlight=False)
    import pyarrow as pa

    rows = pa.table(
        {
            "table": [t.table for t in report.tables],
            "timeframe": [t.timeframe or "" for t in report.tables],
            "series": [t.series for t in report.tables],
            "copied": [t.exported for t in report.tables],
            "up_to_date": [t.series - t.exported for t in report.tables],
            "rows": [t.rows for t in report.tables],
        }
    )
    layout = "TimescaleDB" if report.timescale else "PostgreSQL partitions"
    title = f"export to schema {report.schema} ({layout}): {report.rows} rows in {report.seconds:.1f} s"
    print_table(rows, fmt, title=title)
    if fmt is OutputFormat.TABLE and report.rows == 0:
        console.print("PostgreSQL was already up to date")


def register(export_app: typer.Typer) -> None:
    """Add `postgres` to the `export` command group."""
    export_app.command("postgres", cls=SettingsCommand)(export_postgres_command)
