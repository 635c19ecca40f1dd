"""`binance-lake catalog …`: refresh the catalog from the archive listing, probe recent days, and ask what
the archive holds (snapshot, timeline, range, earliest, synchronal, symbols, reports)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import typer

from binance_lake.cli.options import FORMAT, old_spelling, renamed
from binance_lake.cli.progress import DEFAULT_INTERVAL, ProgressDisplay, Shape, choose_shape
from binance_lake.cli.render import OutputFormat, console, err_console, print_record, print_table
from binance_lake.cli.state import SettingsCommand, state

if TYPE_CHECKING:
    import pyarrow as pa

    from binance_lake.catalog.probe import ProbeReport
    from binance_lake.catalog.refresh import RefreshReport
    from binance_lake.lake import Lake

catalog_app = typer.Typer(help="What the archive holds, per file and per day.", no_args_is_help=True)

MARKETS = typer.Option(None, "--markets", help="Comma-separated markets: spot,um,cm,option (default: all).")
DATASETS = typer.Option(
    None, "--datasets", help="Comma-separated datasets, e.g. klines,fundingRate (default: all)."
)
SYMBOLS = typer.Option(
    None, "--symbols", help="Comma-separated symbols, @set names or @file:PATH (default: all)."
)
INTERVALS = typer.Option(
    None, "--intervals", help="Comma-separated kline intervals, e.g. 1h,1m (default: all)."
)
# The singular spellings these queries took before they took lists (one release more, hidden).
OLD_MARKET = old_spelling("--market", "--markets")
OLD_DATASET = old_spelling("--dataset", "--datasets")
OLD_INTERVAL = old_spelling("--interval", "--intervals")
LIMIT = 200


def _series(
    markets: str | None,
    market: str | None,
    datasets: str | None,
    dataset: str | None,
    *interval_options: str | None,
) -> dict[str, str | None]:
    """The series filters as the Lake takes them, each from its plural option or its old singular spelling;
    `intervals` only for the commands that take them (`interval_options` = the plural and the old spelling)."""
    chosen = {
        "markets": renamed(markets, market, new="--markets", old="--market"),
        "datasets": renamed(datasets, dataset, new="--datasets", old="--dataset"),
    }
    if interval_options:
        intervals, interval = interval_options
        chosen["intervals"] = renamed(intervals, interval, new="--intervals", old="--interval")
    return chosen


def _lake(ctx: typer.Context) -> Lake:
    from binance_lake.lake import Lake

    return Lake(settings=state(ctx).settings())


def _print_changes(report: RefreshReport | ProbeReport) -> None:
    c = report.changes
    console.print(
        f"new [bold]{c.new}[/], changed [bold]{c.changed}[/], gone [bold]{c.gone}[/], "
        f"revived [bold]{c.revived}[/], unchanged {c.unchanged}"
    )


def _changes(report: RefreshReport | ProbeReport) -> dict[str, object]:
    return {f"changes_{name}": value for name, value in dataclasses.asdict(report.changes).items()}


def _probe_shape(fmt: OutputFormat) -> Shape:
    # The probe's bar is only for people at a terminal (on stderr, since stdout is for the result).
    return Shape.BARS if fmt is OutputFormat.TABLE and err_console.is_terminal else Shape.QUIET


@catalog_app.command("refresh", cls=SettingsCommand)
def refresh_command(
    ctx: typer.Context,
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    symbols: str | None = SYMBOLS,
    intervals: str | None = INTERVALS,
    concurrency: int = typer.Option(32, "--concurrency", min=1, max=256, help="Listings in flight at once."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """List the archive and record new, changed (re-uploaded) and gone files. Safe to re-run at any time."""
    lake = _lake(ctx)
    chosen = symbols or None  # `@set`s, `@file:` and ccxt names expand in the Lake (`catalog.request`)
    # Progress goes to stderr: bars on a terminal, else a line every few seconds (JSON lines for json).
    with ProgressDisplay(choose_shape(as_json=fmt is OutputFormat.JSON)) as shown:
        report = lake.catalog.refresh(
            markets=markets,
            datasets=datasets,
            symbols=chosen,
            intervals=intervals,
            concurrency=concurrency,
            progress=shown,
        )
    if fmt is not OutputFormat.TABLE:
        record = {
            "prefixes": report.prefixes,
            "pages": report.pages,
            "keys": report.keys,
            "files_seen": report.files_seen,
            "other_keys": report.other_keys,
            "seconds": round(report.seconds, 3),
            **_changes(report),
            "exchange_symbols_changed": report.exchange_symbols,
            "exchange_error": report.exchange_error,
        }
        print_record(record, fmt)
        return
    console.print(
        f"listed {report.prefixes} prefixes, {report.pages} pages ({report.pages_per_second:.0f} pages/s), "
        f"{report.files_seen} files, {report.other_keys} non-dataset keys in {report.seconds:.1f} s"
    )
    _print_changes(report)
    if report.exchange_error is not None:
        console.print(f"exchangeInfo unavailable: {report.exchange_error}", highlight=False, markup=False)
    else:
        console.print(f"exchangeInfo: {report.exchange_symbols} symbols changed")


@catalog_app.command("probe", cls=SettingsCommand)
def probe_command(
    ctx: typer.Context,
    date: str | None = typer.Option(
        None, "--date", help="Last day to probe, YYYY-MM-DD (default: yesterday)."
    ),
    days_back: int = typer.Option(1, "--days-back", help="Probe this many days up to --date (1 to 3660)."),
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    intervals: str | None = INTERVALS,
    concurrency: int = typer.Option(64, "--concurrency", min=1, max=512, help="HEAD requests in flight."),
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
    dataset: str | None = OLD_DATASET,
    interval: str | None = OLD_INTERVAL,
) -> None:
    """HEAD the daily files expected for the known symbols: finds late uploads and re-uploads fast."""
    from binance_lake.lake import check_days_back

    check_days_back(days_back)  # before the progress bar starts
    lake = _lake(ctx)
    chosen = _series(markets, market, datasets, dataset, intervals, interval)
    with ProgressDisplay(_probe_shape(fmt), interval=DEFAULT_INTERVAL) as shown:  # no periodic lines
        report = lake.catalog.probe(
            date,
            days_back=days_back,
            markets=chosen["markets"],
            datasets=chosen["datasets"],
            intervals=chosen["intervals"],
            concurrency=concurrency,
            progress=shown,
        )
    if fmt is not OutputFormat.TABLE:
        record = {
            "probed": report.probed,
            "series": report.series,
            "found": report.found,
            "missing": list(report.missing),
            "seconds": round(report.seconds, 3),
            **_changes(report),
        }
        print_record(record, fmt)
        return
    console.print(
        f"probed {report.probed} files of {report.series} series in {report.seconds:.1f} s: "
        f"{report.found} found, {len(report.missing)} missing"
    )
    _print_changes(report)


@catalog_app.command("snapshot", cls=SettingsCommand)
def snapshot_command(
    ctx: typer.Context,
    date: str = typer.Argument(..., help="The day, YYYY-MM-DD."),
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    intervals: str | None = INTERVALS,
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
    dataset: str | None = OLD_DATASET,
    interval: str | None = OLD_INTERVAL,
) -> None:
    """Symbols with a file on DATE, per market / dataset / interval."""
    table = _lake(ctx).catalog.snapshot(
        date,
        **_series(markets, market, datasets, dataset, intervals, interval),
        as_="arrow",
    )
    print_table(table, fmt, title=f"available on {date}", limit=LIMIT)


@catalog_app.command("timeline", cls=SettingsCommand)
def timeline_command(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="The symbol, e.g. BTCUSDT."),
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    intervals: str | None = INTERVALS,
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
    dataset: str | None = OLD_DATASET,
    interval: str | None = OLD_INTERVAL,
) -> None:
    """Available spans, missing days, first and last day of SYMBOL's series."""
    table = _lake(ctx).catalog.timeline(
        symbol,
        **_series(markets, market, datasets, dataset, intervals, interval),
        as_="arrow",
    )
    print_table(_for_format(table, fmt), fmt, title=f"timeline of {symbol.upper()}", limit=LIMIT)
    if fmt is OutputFormat.TABLE:
        for t in table.to_pylist():
            if not t["complete"]:
                series = " ".join(x for x in (t["market"], t["dataset"], t["interval"]) if x)
                hint = _refresh_hint(t["market"], t["dataset"], t["symbol"], t["interval"])
                console.print(
                    f"{series}: first_day {t['first_day']} and last_day {t['last_day']} are only the first and "
                    f"last known ({_listed_text(t['listed_from'], t['listed'])}); run `{hint}` for the full "
                    "history",
                    highlight=False,
                    markup=False,
                )


@catalog_app.command("range", cls=SettingsCommand)
def range_command(
    ctx: typer.Context,
    start: str = typer.Argument(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Argument(..., help="Last day, YYYY-MM-DD (inclusive)."),
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
    dataset: str | None = OLD_DATASET,
) -> None:
    """Symbols listed, delisted and active between START and END."""
    table = _lake(ctx).catalog.range(
        start,
        end,
        **_series(markets, market, datasets, dataset),
        as_="arrow",
    )
    print_table(table, fmt, title=f"{start} .. {end}", limit=LIMIT)


@catalog_app.command("earliest", cls=SettingsCommand)
def earliest_command(
    ctx: typer.Context,
    markets: str | None = MARKETS,
    datasets: str | None = DATASETS,
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
    dataset: str | None = OLD_DATASET,
) -> None:
    """Earliest date per symbol per market and dataset, and whether the catalog listed its whole history
    (`complete`; else `earliest_date` is only the earliest known, see `listed`)."""
    table = _lake(ctx).catalog.earliest(
        **_series(markets, market, datasets, dataset),
        as_="arrow",
    )
    print_table(_for_format(table, fmt), fmt, limit=LIMIT)
    if fmt is OutputFormat.TABLE:
        partial = [r for r in table.to_pylist() if not r["complete"]]
        for row in partial[:20]:
            console.print(
                f"{row['market']} {row['dataset']} {row['symbol']}: earliest known {row['earliest_date']} "
                f"({_listed_text(row['listed_from'], row['listed'])}); run "
                f"`{_refresh_hint(row['market'], row['dataset'], row['symbol'], None)}` for the full history",
                highlight=False,
                markup=False,
            )
        if len(partial) > 20:
            console.print(f"… and {len(partial) - 20} more listed only in part", highlight=False)


def _listed_text(listed_from: object, listed: object) -> str:
    if listed_from is None:
        return "the catalog has no record of listing its history"
    return f"listed from {listed_from} only: {listed}"


def _refresh_hint(market: str, dataset: str, symbol: str, interval: str | None) -> str:
    return f"binance-lake catalog refresh --markets {market} --datasets {dataset} --symbols {symbol}" + (
        f" --intervals {interval}" if interval else ""
    )


def _for_format(table: pa.Table, fmt: OutputFormat) -> pa.Table:
    """CSV and JSON carry `listed_from`, `listed` and `complete` as columns; the rich table shows `listed`
    (the notes under it say what a partial listing means) and leaves the other two out."""
    if fmt is not OutputFormat.TABLE:
        return table
    return table.drop_columns([c for c in ("listed_from", "complete") if c in table.column_names])


@catalog_app.command("synchronal", cls=SettingsCommand)
def synchronal_command(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Base assets with a spot USDT pair and perpetuals in both um and cm."""
    print_table(_lake(ctx).catalog.synchronal(as_="arrow"), fmt, title="synchronal", limit=LIMIT)


@catalog_app.command("symbols", cls=SettingsCommand)
def symbols_command(
    ctx: typer.Context,
    markets: str | None = MARKETS,
    fmt: OutputFormat = FORMAT,
    market: str | None = OLD_MARKET,
) -> None:
    """Every symbol the archive holds, delisted ones included."""
    chosen = renamed(markets, market, new="--markets", old="--market")
    print_table(_lake(ctx).catalog.symbols(markets=chosen, as_="arrow"), fmt, title="symbols", limit=LIMIT)


@catalog_app.command("reports", cls=SettingsCommand)
def reports_command(
    ctx: typer.Context,
    out: str = typer.Option(..., "--out", help="Directory the CSV files are written to (created if needed)."),
    markets: str | None = typer.Option(None, "--markets", help="Comma-separated: spot,um,cm (default: all)."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Write seed 001's availability reports: <market>_earliest_dates.csv, spot_um_usdt_filtered.csv,
    spot_synchronal.csv, consolidated_base_symbols.csv. Delete lines of spot_synchronal.csv and pass it as
    --symbols @file:PATH to shortlist."""
    written = _lake(ctx).catalog.reports(out, markets=markets)
    if fmt is not OutputFormat.TABLE:
        import pyarrow as pa

        files = pa.table({"path": [str(w.path) for w in written], "rows": [w.rows for w in written]})
        print_table(files, fmt)
        return
    for report in written:
        console.print(f"wrote {report.rows:,} rows to {report.path}", highlight=False, markup=False)
