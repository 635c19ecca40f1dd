"""`binance-lake sync`: mirror archive files into the lake, resumable and checksum-verified."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from binance_lake.cli.fast_start import pyarrow_without_pandas
from binance_lake.cli.observe import METRICS_PORT, observed
from binance_lake.cli.options import FORMAT, renamed
from binance_lake.cli.progress import ProgressDisplay, choose_shape
from binance_lake.cli.render import OutputFormat, console, print_record, show
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError

if TYPE_CHECKING:
    from binance_lake.core.series_key import SeriesKey
    from binance_lake.engine.sync import SyncReport, Unlisted


def unavailable_text(unavailable: Mapping[SeriesKey, tuple[dt.date, ...]]) -> list[str]:
    """One line per series with days no archive file covers (missing upstream, e.g. 404 days)."""
    lines = []
    for series, days in sorted(unavailable.items(), key=lambda kv: kv[0].sort_key()):
        name = series.path
        shown = ", ".join(d.isoformat() for d in days[:10]) + (" …" if len(days) > 10 else "")
        lines.append(f"{name}: {len(days)} day(s) not in the archive: {shown}")
    return lines


def unlisted_text(unlisted: Unlisted) -> str:
    """A dry run's series and the first few day ranges the catalog has never listed."""
    shown = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in unlisted.ranges[:5])
    return f"{unlisted.series}: {shown}" + (" …" if len(unlisted.ranges) > 5 else "")


def _print_plan(report: SyncReport) -> None:
    plan = report.plan
    console.print(
        f"plan: {len(plan.fetch)} files, {plan.bytes / 1e6:.1f} MB to fetch; {plan.held} already held; "
        f"{len(report.symbols)} symbols"
    )
    for planned in plan.fetch[:50]:
        console.print(
            f"  {planned.reason.value:>16}  {planned.entry.size:>10}  {planned.key}",
            highlight=False,
            markup=False,
        )
    if len(plan.fetch) > 50:
        console.print(f"  … {len(plan.fetch) - 50} more")
    _print_lost(report)
    _print_unlisted(report)


def _print_lost(report: SyncReport) -> None:
    for path, damage in list(report.lost_partitions.items())[:20]:
        console.print(
            f"[yellow]partition {escape(str(damage))}[/] {escape(str(path))}: its files are planned again",
            highlight=False,
        )


def _print_unlisted(report: SyncReport) -> None:
    """What a dry run's plan cannot know: the requested days the catalog has never listed."""
    if not report.unlisted:
        return
    request = report.request
    console.print(
        "[yellow]stale:[/] the catalog holds no listing of these requested days, "
        "so the plan may miss their files:",
        highlight=False,
    )
    for unlisted in report.unlisted:
        console.print(f"  {unlisted_text(unlisted)}", highlight=False, markup=False)
    datasets = ",".join(dict.fromkeys(u.dataset for u in report.unlisted))
    intervals = ",".join(dict.fromkeys(u.interval for u in report.unlisted if u.interval))
    console.print(
        f"list them with `binance-lake catalog refresh --markets {request.market.value} --datasets {datasets}"
        + (f" --intervals {intervals}" if intervals else "")
        + (f" --symbols {','.join(request.symbols)}" if request.symbols else "")
        + "`, or run this sync without --dry-run (it lists its days first)",
        highlight=False,
        markup=False,
    )


SKIPPED_SHOWN = 20


def _print_summary(report: SyncReport) -> None:
    """Each file problem is counted once, under one kind, and the lines below the table list the same files:
    failed (transient; the next sync retries it), quarantined by this run, and quarantined earlier (skipped)."""
    execution = report.execution
    assert execution is not None
    failed = [f for f in execution.failures if not f.quarantined]
    quarantined = [f for f in execution.failures if f.quarantined]
    skipped = report.plan.quarantined
    table = Table(title="sync", show_header=False)
    table.add_row("symbols", str(len(report.symbols)))
    table.add_row("files ingested", f"{execution.ingested} of {len(report.plan.fetch)} planned")
    table.add_row("already held", str(report.plan.held))
    table.add_row("rows", f"{execution.rows:,}")
    table.add_row("downloaded", f"{execution.bytes / 1e6:.1f} MB in {execution.seconds:.1f} s")
    table.add_row("failed (next sync retries)", str(len(failed)))
    table.add_row("quarantined now", str(len(quarantined)))
    table.add_row("quarantined (skipped)", str(len(skipped)))
    show(table)
    _print_lost(report)
    without_raw = report.extras.get("rebuild_without_raw") or []
    if isinstance(without_raw, list) and without_raw:
        console.print(
            f"[yellow]not rebuilt[/] {len(without_raw)} held files have no kept raw zip "
            f"(e.g. {escape(str(without_raw[0]))}); a sync without --rebuild downloads them",
            highlight=False,
        )
    for line in unavailable_text(report.plan.unavailable)[:20]:
        console.print(f"[yellow]missing upstream[/] {escape(line)}", highlight=False)
    for failure in failed:
        console.print(f"[red]failed[/] {escape(failure.key)}: {escape(failure.error)}", highlight=False)
    for failure in quarantined:
        console.print(
            f"[red]quarantined now[/] {escape(failure.key)}: {escape(failure.error)}", highlight=False
        )
    for key in skipped[:SKIPPED_SHOWN]:
        console.print(
            f"[yellow]quarantined (skipped)[/] {escape(key)}: its bytes failed verification twice "
            "(fetched again when upstream changes it, or with --retry-quarantined)",
            highlight=False,
        )
    if len(skipped) > SKIPPED_SHOWN:
        console.print(
            f"  … {len(skipped) - SKIPPED_SHOWN} more quarantined (skipped); `binance-lake status` lists all"
        )


def sync_command(
    ctx: typer.Context,
    market: str | None = typer.Option(
        None, "--market", help="spot, um, cm or option (default: defaults.market of the config, else um)."
    ),
    datasets: str | None = typer.Option(
        None,
        "--datasets",
        help="Comma-separated, e.g. klines,markPriceKlines,fundingRate "
        "(default: defaults.datasets of the config, else klines).",
    ),
    intervals: str | None = typer.Option(
        None,
        "--intervals",
        help="Comma-separated kline intervals, e.g. 1h,1m (default: defaults.intervals of the config).",
    ),
    symbols: str | None = typer.Option(
        None, "--symbols", help="Comma-separated symbols, @set names or @file:PATH."
    ),
    all_symbols: bool = typer.Option(
        False,
        "--all",
        help="Every symbol of the market that traded on any day of the range (delisted since or not), "
        "from the archive's files of the chosen datasets.",
    ),
    include_delisted: bool = typer.Option(
        False,
        "--include-delisted",
        help="With --all: also the …SETTLED series, the archive's days after a contract was delisted "
        "(contracts that traded in the range are in --all already).",
    ),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day, YYYY-MM-DD, included (default: today)."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the plan (files, bytes) from the catalog as it is and stop: lists and writes nothing.",
    ),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=256, help="Downloads in flight."),
    keep_raw: bool = typer.Option(
        True, "--keep-raw/--no-keep-raw", help="Keep the verified zips under raw/."
    ),
    refresh: bool = typer.Option(
        True, "--refresh/--no-refresh", help="List the chosen prefixes first (a --dry-run never does)."
    ),
    fmt: OutputFormat = FORMAT,
    as_json: bool = typer.Option(
        False, "--json", hidden=True, help="Old spelling of --format json (goes in the next release)."
    ),
    retry_quarantined: bool = typer.Option(
        False,
        "--retry-quarantined",
        help="Download quarantined files again even if upstream did not change them.",
    ),
    metrics_port: int | None = METRICS_PORT,
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="Re-ingest the held files from their kept raw zips; list and download nothing.",
    ),
    from_scratch: bool = typer.Option(
        False, "--from-scratch", help="Ignore the recorded progress of this selection: plan every file again."
    ),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Read every held partition whole and rebuild the damaged ones (`check` names them).",
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Run the downloads and ingests on Dask workers: tcp://HOST:PORT (a scheduler; every worker "
        "sees the lake root at the same path) or local:N (N worker processes here). Extra `cluster`.",
    ),
) -> None:
    """Download archive files into typed Parquet: resumable, checksum-verified, parallel.

    Exit code 1 when any file failed (each is named); 2 for bad input. Progress goes to stderr: live bars
    on a terminal, otherwise one line every BINANCE_LAKE_PROGRESS_SECONDS (5 s), JSON lines with --format json.
    """
    # `--symbols ''` or `--symbols ,,` is given but empty: `Lake.sync` refuses it ("no symbols given"); only
    # neither or both of the two options is this message. Neither takes `[defaults] symbols` when it is set.
    settings = state(ctx).settings()
    if symbols is None and not all_symbols:
        symbols = settings.default_symbols
    if (symbols is not None) == all_symbols:
        raise UsageError("give either --symbols or --all (or set symbols in [defaults] of binance-lake.toml)")
    if include_delisted and not all_symbols:
        raise UsageError("--include-delisted only applies with --all")
    if as_json:
        fmt = renamed(
            None if fmt is OutputFormat.TABLE else fmt, OutputFormat.JSON, new="--format json", old="--json"
        )
    pyarrow_without_pandas()  # 0.3-1.4 s of start-up (cli/fast_start.py): before the lake imports pyarrow
    from binance_lake.lake import Lake

    lake = Lake(settings=settings)
    # Progress goes to stderr: bars on a terminal, else a line every few seconds (JSON lines for json).
    with (
        ProgressDisplay(choose_shape(as_json=fmt is OutputFormat.JSON)) as shown,
        observed(lake.root, "sync", shown, metrics_port=None if dry_run else metrics_port) as progress,
    ):
        report = lake.sync(
            market=market,
            datasets=datasets,
            symbols=symbols,
            intervals=intervals,
            start=start,
            end=end,
            include_delisted=include_delisted,
            dry_run=dry_run,
            refresh=refresh,
            concurrency=concurrency,
            keep_raw=keep_raw,
            progress=progress,
            retry_quarantined=retry_quarantined,
            rebuild=rebuild,
            from_scratch=from_scratch,
            repair=repair,
            cluster=cluster,
        )
    if fmt is not OutputFormat.TABLE:
        print_record(report.summary(), fmt)
    elif dry_run:
        _print_plan(report)
    else:
        _print_summary(report)
    if not report.ok:
        raise typer.Exit(1)
