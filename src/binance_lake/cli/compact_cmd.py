"""`binance-lake compact [--datasets ...] [--compression none|lz4|zstd] [--force]`: write each closed year of the
monthly partitions as one memory-mapped Arrow file that loads read instead (`Lake.compact`,
`storage.compaction`), and print what it wrote."""

from __future__ import annotations

import typer

from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, print_record
from binance_lake.cli.state import state


def compact_command(
    ctx: typer.Context,
    datasets: str | None = typer.Option(
        None, "--datasets", help="Comma-separated datasets stored a file a month (default: all of them)."
    ),
    compression: str = typer.Option(
        "none", "--compression", help="none (read without a copy), lz4 or zstd (smaller, decoded on read)."
    ),
    force: bool = typer.Option(False, "--force", help="Rewrite years already compacted from the same files."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Compact each closed year of the lake's monthly partitions into one Arrow file under compacted/, which
    load and load_universe read while the partitions are unchanged (the partitions stay the truth: a year
    changed since is read from them until the next compact)."""
    from binance_lake.lake import Lake

    report = Lake(settings=state(ctx).settings()).compact(
        datasets=datasets, compression=compression, force=force
    )
    if fmt is not OutputFormat.TABLE:
        print_record(report.summary(), fmt)
        return
    console.print(
        f"compacted {report.written:,} years ({report.rows:,} rows, {report.bytes / 1e6:,.1f} MB); "
        f"{report.current:,} already current, {report.removed:,} stale removed, in {report.seconds:.1f} s",
        highlight=False,
        markup=False,
    )
