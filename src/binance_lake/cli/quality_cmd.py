"""`binance-lake check`, `gaps`, `health` and `report`: what the lake holds, proven and shown.

`check` exits 1 when it found an error or a warning (each named, with the command that repairs it); `health`
exits 0 healthy, 1 degraded, 2 failing (for cron and monitoring); usage errors exit 2 as everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, print_record, print_table
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list

if TYPE_CHECKING:
    from binance_lake.lake import Lake

JSON_HELP = "Same as --format json."
FINDINGS_SHOWN = 50


def _lake(ctx: typer.Context) -> Lake:
    from binance_lake.lake import Lake

    return Lake(settings=state(ctx).settings())


def _fmt(fmt: OutputFormat, as_json: bool) -> OutputFormat:
    return OutputFormat.JSON if as_json else fmt


def check_command(
    ctx: typer.Context,
    market: str | None = typer.Option(
        None, "--market", help="spot, um, cm or option (default: every market)."
    ),
    datasets: str | None = typer.Option(
        None, "--datasets", help="Comma-separated (default: every dataset held)."
    ),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(
        None, "--end", help="Last day, YYYY-MM-DD (open: freshness is checked too)."
    ),
    deep: bool = typer.Option(
        False,
        "--deep",
        help="Read every page of every partition and re-parse the kept raw zips (implies --full).",
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Scan every series again (default: only those changed since the last check; the rest is carried).",
    ),
    rest: bool = typer.Option(
        False,
        "--rest",
        help="Ask Binance's REST whether it has the bars of the upstream and missing-file gaps.",
    ),
    fmt: OutputFormat = FORMAT,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Prove what the lake holds: integrity, quality rules, gaps classified; recorded for `gaps`, `health`
    and `report`. Exit code 1 when anything is wrong (each finding names its repair)."""
    fmt = _fmt(fmt, as_json)
    report = _lake(ctx).check(
        market=market,
        datasets=datasets,
        symbols=symbols,
        start=start,
        end=end,
        deep=deep,
        full=full,
        probe=rest,
    )
    if fmt is OutputFormat.JSON:
        record = report.summary()
        record["findings_list"] = report.findings.to_pylist()
        console.file.write(json.dumps(record, default=str, indent=1) + "\n")
    elif fmt is OutputFormat.CSV:
        print_table(report.findings, fmt)
    else:
        columns = ["severity", "rule", "dataset", "interval", "symbol", "day", "message"]
        if report.findings.num_rows:
            print_table(report.findings.select(columns), fmt, title="findings", limit=FINDINGS_SHOWN)
        repairs = sorted({r for r in report.findings.column("repair").to_pylist() if r})
        for repair in repairs[:20]:
            console.print(f"[yellow]repair:[/] {escape(repair)}", highlight=False)
        console.print(
            f"[bold]{'ok' if report.ok else 'problems'}[/]: {escape(report.line())} "
            f"({report.counts['partitions']} partitions, {report.counts['series_scanned']} series scanned, "
            f"{report.counts['series_carried']} unchanged since the last check, {report.counts['raw_zips']} raw zips, "
            f"{report.seconds:.1f} s); `binance-lake gaps` lists the gaps",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


def gaps_command(
    ctx: typer.Context,
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day, YYYY-MM-DD."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="Comma-separated: maintenance, upstream, missing-file, not-yet, delisted, quarantined, "
        "not-synced, unlisted.",
    ),
    fmt: OutputFormat = FORMAT,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The gaps the last `check` classified: why each missing day or bar is missing."""
    kinds = split_list(kind) if kind else []
    table = _lake(ctx).gaps(symbols=symbols, start=start, end=end, kind=kinds, as_="arrow")
    print_table(table, _fmt(fmt, as_json), title="gaps", limit=200)


def health_command(
    ctx: typer.Context,
    max_age: str = typer.Option("2d", "--max-age", help="A series older than this is stale (e.g. 2d, 36h)."),
    continuous: float | None = typer.Option(
        None, "--continuous", min=1, help="Check again every SECONDS, one line each, until interrupted."
    ),
    rounds: int | None = typer.Option(
        None, "--rounds", hidden=True, min=1, help="With --continuous: stop after N."
    ),
    fmt: OutputFormat = FORMAT,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Freshness and failures; exit 0 healthy, 1 degraded, 2 failing (for cron and monitoring)."""
    from binance_lake.quality.health import parse_age

    age = parse_age(max_age)
    fmt = _fmt(fmt, as_json)
    lake = _lake(ctx)
    done = 0
    while True:
        health = lake.health(max_age=age)
        if fmt is OutputFormat.TABLE:
            stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} " if continuous else ""
            console.print(f"{stamp}{health.line()}", highlight=False, markup=False)
        else:
            print_record(health.summary(), fmt)
        done += 1
        if continuous is None or (rounds is not None and done >= rounds):
            break
        time.sleep(continuous)
    raise typer.Exit(health.code)


def report_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="The HTML file to write, e.g. report.html."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day, YYYY-MM-DD."),
) -> None:
    """Write one self-contained HTML report (opens offline): coverage heatmaps, gaps, findings, sizes, runs."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'report.html'}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the directory {out.parent} does not exist")
    path = _lake(ctx).report(out, symbols=symbols, start=start, end=end)
    console.print(
        f"report written to {escape(str(path))} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False
    )
