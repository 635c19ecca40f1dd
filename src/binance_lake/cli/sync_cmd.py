"""`binance-lake sync`: mirror archive files into the lake, resumable and checksum-verified."""

from __future__ import annotations

import json
import sys

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from binance_lake.cli.render import console
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError
from binance_lake.engine.executor import SyncProgress
from binance_lake.engine.sync import SyncReport, unavailable_text
from binance_lake.lake import Lake


def _print_plan(report: SyncReport) -> None:
    plan = report.plan
    console.print(
        f"plan: {len(plan.fetch)} files, {plan.bytes / 1e6:.1f} MB to fetch; {plan.held} already held; "
        f"{len(report.symbols)} symbols"
    )
    for planned in plan.fetch[:50]:
        console.print(
            f"  {planned.reason.value:>16}  {planned.entry.size:>10}  {planned.key}", highlight=False
        )
    if len(plan.fetch) > 50:
        console.print(f"  … {len(plan.fetch) - 50} more")


def _print_summary(report: SyncReport) -> None:
    execution = report.execution
    assert execution is not None
    table = Table(title="sync", show_header=False)
    table.add_row("symbols", str(len(report.symbols)))
    table.add_row("files ingested", f"{execution.ingested} of {len(report.plan.fetch)} planned")
    table.add_row("already held", str(report.plan.held))
    table.add_row("rows", f"{execution.rows:,}")
    table.add_row("downloaded", f"{execution.bytes / 1e6:.1f} MB in {execution.seconds:.1f} s")
    table.add_row("failed", str(len(execution.failures)))
    table.add_row("quarantined (skipped)", str(len(report.plan.quarantined)))
    console.print(table)
    for line in unavailable_text(report.plan.unavailable)[:20]:
        console.print(f"[yellow]missing upstream[/] {line}", highlight=False)
    for failure in execution.failures:
        kind = "quarantined" if failure.quarantined else "failed"
        console.print(f"[red]{kind}[/] {failure.key}: {failure.error}", highlight=False)


def sync_command(
    ctx: typer.Context,
    market: str = typer.Option("um", "--market", help="spot, um, cm or option."),
    datasets: str = typer.Option(
        ..., "--datasets", help="Comma-separated, e.g. klines,markPriceKlines,fundingRate."
    ),
    intervals: str | None = typer.Option(None, "--intervals", help="Kline intervals, e.g. 1h,1m."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    all_symbols: bool = typer.Option(False, "--all", help="Every symbol of the market alive in the range."),
    include_delisted: bool = typer.Option(
        False, "--include-delisted", help="With --all: delisted symbols too."
    ),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day, YYYY-MM-DD (default: today)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (files, bytes) and stop."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=256, help="Downloads in flight."),
    keep_raw: bool = typer.Option(
        True, "--keep-raw/--no-keep-raw", help="Keep the verified zips under raw/."
    ),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="List the chosen prefixes first."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Download archive files into typed Parquet: resumable, checksum-verified, parallel.

    Exit code 1 when any file failed (each is named); 2 for bad input.
    """
    # `--symbols ''` or `--symbols ,,` is given but empty: `Lake.sync` refuses it ("no symbols given"); only
    # neither or both of the two options is this message.
    if (symbols is not None) == all_symbols:
        raise UsageError("give either --symbols or --all")
    if include_delisted and not all_symbols:
        raise UsageError("--include-delisted only applies with --all")
    lake = Lake(settings=state(ctx).settings())
    show = not as_json and sys.stderr.isatty()
    with Progress(
        TextColumn("sync"),
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[failures]} failed"),
        console=console,
        transient=True,
        disable=not show,
    ) as bar:
        task: TaskID = bar.add_task("sync", total=None, failures=0)

        def update(p: SyncProgress) -> None:
            bar.update(task, total=p.files_total or None, completed=p.files_done, failures=p.failures)

        report = lake.sync(
            market=market,
            datasets=datasets,
            symbols=symbols,
            intervals=intervals,
            start=start,
            end=end,
            include_delisted=include_delisted,
            dry_run=dry_run,
            refresh_catalog=refresh,
            concurrency=concurrency,
            keep_raw=keep_raw,
            progress=SyncProgress(on_update=update),
        )
    if as_json:
        console.file.write(json.dumps(report.summary(), indent=1) + "\n")
    elif dry_run:
        _print_plan(report)
    else:
        _print_summary(report)
    if not report.ok:
        raise typer.Exit(1)
