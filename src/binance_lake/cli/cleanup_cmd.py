"""`binance-lake cleanup [--dry-run] [--raw]`: remove what the lake no longer needs and print what it frees
(`Lake.cleanup`, `engine.cleanup`)."""

from __future__ import annotations

import typer
from rich.table import Table

from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, print_record, show
from binance_lake.cli.state import state


def _size(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def cleanup_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Also the raw zips of ingested files (the partitions hold their rows; --rebuild then downloads).",
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Remove daily zips superseded by a monthly file and stale temporary files (with --raw, every raw zip
    of an ingested file too), and print what it frees. Partial downloads a sync can resume and damaged/ stay.
    On an s3:// lake the objects go from the bucket, with the partition objects no record names."""
    from binance_lake.lake import Lake

    report = Lake(settings=state(ctx).settings()).cleanup(dry_run=dry_run, raw=raw)
    if fmt is not OutputFormat.TABLE:
        print_record(report.summary(), fmt)
        return
    verb = "would free" if dry_run else "freed"
    table = Table(title="cleanup (dry run)" if dry_run else "cleanup")
    for column in ("what", "paths", "size"):
        table.add_column(column)
    for why, (count, size) in sorted(report.by_reason().items()):
        table.add_row(why, f"{count:,}", _size(size))
    if report.freed:
        show(table)
    console.print(
        f"{verb} {_size(report.bytes)} in {len(report.freed):,} paths", highlight=False, markup=False
    )
