"""`binance-lake load | query | status`: write a slice of the lake to a file, run SQL over it, show coverage.

`load` writes Parquet or CSV (the extension decides); days the lake lacks are printed as one warning line on
stderr. It exits 0 when rows were written and 1 when there were none. Bad input exits 2 (`UsageError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, console, err_console, print_table
from binance_lake.cli.state import state
from binance_lake.core.choices import as_list, replace_top
from binance_lake.core.errors import StorageError, UsageError

if TYPE_CHECKING:
    from binance_lake.lake import Lake

WRITERS = (".parquet", ".csv")


def _lake(ctx: typer.Context) -> Lake:
    from binance_lake.lake import Lake

    return Lake(settings=state(ctx).settings())


def _check_out(out: Path) -> None:
    """`--out` must name a file in an existing directory: a typo in the directory is not created silently."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; name a .parquet or .csv file")
    if not out.parent.is_dir():
        what = "is a file" if out.parent.exists() else "does not exist"
        raise UsageError(f"--out {out}: the directory {out.parent} {what} (create it first)")


def load_command(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., help="Dataset, e.g. klines, fundingRate, metrics."),
    symbols: str = typer.Option(..., "--symbols", help="Comma-separated symbols, @set names or @file:PATH."),
    start: str = typer.Option(
        ..., "--start", help="First day (YYYY-MM-DD) or first time (YYYY-MM-DDTHH:MM, UTC), included."
    ),
    end: str | None = typer.Option(
        None,
        "--end",
        help="Last day (YYYY-MM-DD), included; or a time (YYYY-MM-DDTHH:MM, UTC), excluded (default: today).",
    ),
    market: str | None = typer.Option(
        None, "--market", help="spot, um, cm or option (default: defaults.market of the config, else um)."
    ),
    interval: str | None = typer.Option(None, "--interval", help="Kline interval, e.g. 1h (klines family)."),
    out_path: str = typer.Option(..., "--out", help="Output file: .parquet or .csv."),
) -> None:
    """Write rows of DATASET for some symbols and days to a Parquet or CSV file.

    Dates are whole UTC days with both ends included (--start 2024-01-01 --end 2024-01-31 is January);
    times are half-open, the --end time excluded (--end 2024-02-01T00:00 also stops before February).
    """
    out = Path(out_path).expanduser()
    suffix = out.suffix.lower()
    if suffix not in WRITERS:
        raise UsageError(f"--out must end in .parquet or .csv, not {out.name!r}")
    _check_out(out)
    lake = _lake(ctx)
    market = market or lake.settings.default_market
    ranked = replace_top(symbols, lambda n: lake.top_symbols(n, market=market, end=end))
    chosen = lake.settings.expand_symbols(",".join(as_list(ranked)), market)
    table = lake.load(dataset, chosen, start, end, market=market, interval=interval, as_="arrow")
    from binance_lake.load import missing_of

    missing = missing_of(table)
    if missing:
        err_console.print(f"[yellow]warning:[/] {escape(missing.summary())}", highlight=False)
    if table.num_rows == 0:
        err_console.print("nothing written: the lake holds no rows for that request")
        raise typer.Exit(1)
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, out, compression="zstd")
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, out)
    except OSError as error:  # pyarrow's I/O errors are OSErrors too
        raise StorageError(f"cannot write {out}: {getattr(error, 'strerror', None) or error}") from None
    console.print(f"wrote {table.num_rows:,} rows to {out}", highlight=False, markup=False)


def query_command(
    ctx: typer.Context,
    sql: str = typer.Argument(
        ..., help="SQL over the views klines, fundingRate, … and lake.<catalog table>."
    ),
    fmt: OutputFormat = FORMAT,
    unsafe: bool = typer.Option(
        False,
        "--unsafe",
        help="Allow any statement and any file (default: read-only, the lake's files only).",
    ),
) -> None:
    """Run SQL over the lake (DuckDB): one view per dataset with market, interval and symbol columns.

    The query may only read, and only the lake's files; --unsafe lifts both limits."""
    print_table(_lake(ctx).sql(sql, as_="arrow", unsafe=unsafe), fmt, limit=200)


def status_command(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """What the lake holds per dataset and symbol, sizes on disk, and failed or quarantined files."""
    lake = _lake(ctx)
    print_table(lake.status(as_="arrow"), fmt, title="lake coverage")
    problems = lake.problems(as_="arrow")
    if problems.num_rows and fmt is OutputFormat.TABLE:
        print_table(problems, fmt, title="failed and quarantined files")
