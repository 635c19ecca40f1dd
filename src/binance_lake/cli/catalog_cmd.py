"""`binance-lake catalog …`: refresh the catalog from the archive listing, probe recent days, and ask what
the archive holds (snapshot, timeline, range, earliest, synchronal, symbols)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from binance_lake.catalog.probe import ProbeReport
from binance_lake.catalog.queries import timelines_table
from binance_lake.catalog.refresh import RefreshProgress, RefreshReport
from binance_lake.cli.render import OutputFormat, console, print_table
from binance_lake.cli.state import state
from binance_lake.lake import Lake, check_days_back

catalog_app = typer.Typer(help="What the archive holds, per file and per day.", no_args_is_help=True)

MARKETS = typer.Option(None, "--markets", help="Comma-separated markets: spot,um,cm,option (default: all).")
DATASETS = typer.Option(
    None, "--datasets", help="Comma-separated datasets, e.g. klines,fundingRate (default: all)."
)
SYMBOLS = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names (default: all).")
INTERVALS = typer.Option(
    None, "--intervals", help="Comma-separated kline intervals, e.g. 1h,1m (default: all)."
)
FORMAT = typer.Option(OutputFormat.TABLE, "--format", help="table, csv or json.")
MARKET = typer.Option(None, "--market", help="spot, um, cm or option (default: all).")
DATASET = typer.Option(None, "--dataset", help="Dataset, e.g. klines (default: all).")
INTERVAL = typer.Option(None, "--interval", help="Kline interval, e.g. 1h (default: all).")
LIMIT = 200


def _lake(ctx: typer.Context) -> Lake:
    return Lake(settings=state(ctx).settings())


def _print_changes(report: RefreshReport | ProbeReport) -> None:
    c = report.changes
    console.print(
        f"new [bold]{c.new}[/], changed [bold]{c.changed}[/], gone [bold]{c.gone}[/], "
        f"revived [bold]{c.revived}[/], unchanged {c.unchanged}"
    )


@catalog_app.command("refresh")
def refresh_command(
    ctx: typer.Context,
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    symbols: str | None = SYMBOLS,
    intervals: str | None = INTERVALS,
    concurrency: int = typer.Option(32, "--concurrency", min=1, max=256, help="Listings in flight at once."),
) -> None:
    """List the archive and record new, changed (re-uploaded) and gone files. Safe to re-run at any time."""
    lake = _lake(ctx)
    chosen = lake.settings.expand_symbols(symbols) if symbols else None
    with Progress(
        TextColumn("listing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages"),
        TextColumn("{task.fields[keys]} keys"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("listing", total=None, pages=0, keys=0)

        def update(p: RefreshProgress) -> None:
            bar.update(
                task, total=p.prefixes_total or None, completed=p.prefixes_done, pages=p.pages, keys=p.keys
            )

        report = lake.catalog.refresh(
            markets=markets,
            datasets=datasets,
            symbols=chosen,
            intervals=intervals,
            concurrency=concurrency,
            progress=RefreshProgress(on_update=update),
        )
    console.print(
        f"listed {report.prefixes} prefixes, {report.pages} pages ({report.pages_per_second:.0f} pages/s), "
        f"{report.files_seen} files, {report.other_keys} non-dataset keys in {report.seconds:.1f} s"
    )
    _print_changes(report)
    if report.exchange_error is not None:
        console.print(f"exchangeInfo unavailable: {report.exchange_error}", highlight=False)
    else:
        console.print(f"exchangeInfo: {report.exchange_symbols} symbols changed")


@catalog_app.command("probe")
def probe_command(
    ctx: typer.Context,
    date: str | None = typer.Option(
        None, "--date", help="Last day to probe, YYYY-MM-DD (default: yesterday)."
    ),
    days_back: int = typer.Option(1, "--days-back", help="Probe this many days up to --date (1 to 3660)."),
    market: str | None = MARKET,
    dataset: str | None = DATASET,
    interval: str | None = INTERVAL,
    concurrency: int = typer.Option(64, "--concurrency", min=1, max=512, help="HEAD requests in flight."),
) -> None:
    """HEAD the daily files expected for the known symbols: finds late uploads and re-uploads fast."""
    check_days_back(days_back)  # before the progress bar starts
    lake = _lake(ctx)
    with Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("probe", total=None)
        report = lake.catalog.probe(
            date,
            days_back=days_back,
            market=market,
            dataset=dataset,
            interval=interval,
            concurrency=concurrency,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"probed {report.probed} files of {report.series} series in {report.seconds:.1f} s: "
        f"{report.found} found, {len(report.missing)} missing"
    )
    _print_changes(report)


@catalog_app.command("snapshot")
def snapshot_command(
    ctx: typer.Context,
    date: str = typer.Argument(..., help="The day, YYYY-MM-DD."),
    market: str | None = MARKET,
    dataset: str | None = DATASET,
    interval: str | None = INTERVAL,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Symbols with a file on DATE, per market / dataset / interval."""
    table = _lake(ctx).catalog.snapshot(date, market=market, dataset=dataset, interval=interval, as_="arrow")
    print_table(table, fmt, title=f"available on {date}", limit=LIMIT)


@catalog_app.command("timeline")
def timeline_command(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="The symbol, e.g. BTCUSDT."),
    market: str | None = MARKET,
    dataset: str | None = DATASET,
    interval: str | None = INTERVAL,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Available spans, missing days, first and last day of SYMBOL's series."""
    timelines = _lake(ctx).catalog.timeline(symbol, market=market, dataset=dataset, interval=interval)
    print_table(timelines_table(timelines), fmt, title=f"timeline of {symbol.upper()}", limit=LIMIT)


@catalog_app.command("range")
def range_command(
    ctx: typer.Context,
    start: str = typer.Argument(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Argument(..., help="Last day, YYYY-MM-DD (inclusive)."),
    market: str | None = MARKET,
    dataset: str | None = DATASET,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Symbols listed, delisted and active between START and END."""
    table = _lake(ctx).catalog.range(start, end, market=market, dataset=dataset, as_="arrow")
    print_table(table, fmt, title=f"{start} .. {end}", limit=LIMIT)


@catalog_app.command("earliest")
def earliest_command(
    ctx: typer.Context, market: str | None = MARKET, dataset: str | None = DATASET, fmt: OutputFormat = FORMAT
) -> None:
    """Earliest date per symbol per market and dataset."""
    print_table(_lake(ctx).catalog.earliest(market=market, dataset=dataset, as_="arrow"), fmt, limit=LIMIT)


@catalog_app.command("synchronal")
def synchronal_command(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Base assets with a spot USDT pair and perpetuals in both um and cm."""
    print_table(_lake(ctx).catalog.synchronal(as_="arrow"), fmt, title="synchronal", limit=LIMIT)


@catalog_app.command("symbols")
def symbols_command(ctx: typer.Context, market: str | None = MARKET, fmt: OutputFormat = FORMAT) -> None:
    """Every symbol the archive holds, delisted ones included."""
    print_table(_lake(ctx).catalog.symbols(market=market, as_="arrow"), fmt, title="symbols", limit=LIMIT)
