"""`binance-lake update`: bring the lake to the last closed bar — the archive first, then REST for what the
archive has not published yet (stored as provisional days and reconciled when the archive has them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from binance_lake.cli.observe import METRICS_PORT, observed
from binance_lake.cli.options import FORMAT
from binance_lake.cli.progress import ProgressDisplay, choose_shape
from binance_lake.cli.render import OutputFormat, console, print_record, show
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError

if TYPE_CHECKING:
    from binance_lake.engine.update import UpdateReport


def _print_report(report: UpdateReport) -> None:
    summary = report.summary()
    archive = summary["archive"]
    rest = summary["rest"]
    assert isinstance(archive, dict) and isinstance(rest, dict)
    table = Table(title="update" + (" (dry run)" if report.dry_run else ""), show_header=False)
    table.add_row("server time", report.now.isoformat())
    table.add_row("series", str(len(report.series)))
    table.add_row(
        "archive files", f"{archive['ingested_files']} ingested of {archive['planned_files']} planned"
    )
    table.add_row("REST windows", str(len(report.fill.windows)))
    table.add_row("REST rows", f"{report.fill.rows:,}")
    table.add_row("REST requests", f"{report.fill.requests} (weight {report.fill.weight})")
    table.add_row("reconciled days", str(len(report.reconciled)))
    show(table)
    for series, newest in report.last_bars.items():
        last = newest.isoformat() if newest else "none stored"
        days = report.provisional.get(series, ())
        marked = f"; provisional (REST) days: {', '.join(d.isoformat() for d in days)}" if days else ""
        console.print(f"{escape(str(series))}: last bar {last}{escape(marked)}", highlight=False)
    if report.dry_run:
        for window in report.fill.windows:
            console.print(f"would fetch {escape(str(window.series))} {window.first_day}..{window.last_day}")
    for r in report.reconciled:
        what = (
            "equal to the archive"
            if not r.differing_rows
            else f"{r.differing_rows} row(s) differed ({', '.join(r.columns) or 'rows missing'})"
        )
        console.print(f"reconciled {escape(r.path)} {r.day}: {escape(what)}", highlight=False)
    for series, day in report.overdue:
        console.print(
            f"[yellow]still provisional[/] {escape(str(series))} {day}: the archive lists a file for this day "
            "but it was not ingested (see `binance-lake status`)",
            highlight=False,
        )
    for gap in report.confirmed_gaps:
        console.print(
            f"confirmed gap {escape(str(gap.series))} {gap.start.isoformat()}..{gap.end.isoformat()} "
            f"({gap.kind.value}): REST lacks it too; it is not asked for again",
            highlight=False,
        )
    for name, error in report.fill.failures.items():
        console.print(f"[red]REST failed[/] {escape(name)}: {escape(error)}", highlight=False)


def update_command(
    ctx: typer.Context,
    market: str | None = typer.Option(None, "--market", help="spot, um or cm (default: every market held)."),
    datasets: str | None = typer.Option(
        None, "--datasets", help="Comma-separated (default: every one held)."
    ),
    intervals: str | None = typer.Option(None, "--intervals", help="Comma-separated kline intervals."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    all_symbols: bool = typer.Option(False, "--all", help="Every symbol the lake holds (the default)."),
    days_back: int = typer.Option(3, "--days-back", help="Days before today the archive sync covers."),
    fill_gaps: bool = typer.Option(
        False,
        "--fill-gaps",
        help="Also fetch from REST the days and bars missing inside each series' held range.",
    ),
    max_gap_days: int | None = typer.Option(
        None, "--max-gap-days", help="With --fill-gaps: at most this many days a series per run (default 31)."
    ),
    weight_share: float = typer.Option(
        0.8, "--weight-share", help="Share of each REST host's 2400/min weight limit to use, in (0, 1]."
    ),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, help="Requests in flight."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be synced and fetched; write nothing."
    ),
    fmt: OutputFormat = FORMAT,
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    metrics_port: int | None = METRICS_PORT,
) -> None:
    """Bring the lake to the last closed bar: sync what the archive has, then fetch the rest from REST.

    Days from REST are provisional: the next update replaces them with the archive's rows once published and
    records how they differed. Exit code 1 when a series failed; 2 for bad input.
    """
    from binance_lake.lake import Lake

    if symbols is not None and all_symbols:
        raise UsageError("give either --symbols or --all, not both")
    if not 0.0 < weight_share <= 1.0:
        raise UsageError(f"--weight-share is a fraction in (0, 1], not {weight_share:g}")
    if as_json:
        fmt = OutputFormat.JSON
    lake = Lake(settings=state(ctx).settings())
    with (
        ProgressDisplay(choose_shape(as_json=fmt is OutputFormat.JSON)) as shown,
        observed(lake.root, "update", shown, metrics_port=None if dry_run else metrics_port) as progress,
    ):
        report = lake.update(
            market=market,
            datasets=datasets,
            intervals=intervals,
            symbols=symbols,
            days_back=days_back,
            fill_gaps=fill_gaps,
            max_gap_days=max_gap_days,
            dry_run=dry_run,
            concurrency=concurrency,
            weight_share=weight_share,
            progress=progress,
        )
    if fmt is not OutputFormat.TABLE:
        print_record(report.summary(), fmt)
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)
