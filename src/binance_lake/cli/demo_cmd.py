"""`binance-lake demo` (what `make demo` runs): the whole pipeline against the built-in simulator.

Starts the simulator on loopback, refreshes the catalog, syncs a few um symbols (one of them delisted) with klines,
mark, index and premium-index klines, funding and metrics, loads an aligned frame and prints a short report; then
`update` brings BTCUSDT 1h to the last closed bar of the simulator's clock (06:00, so the archive's newest day is
the day before yesterday): the archive's days first, REST for the rest, marked provisional; last, it checks the
lake and writes its HTML report (kept: inside `--root DIR`, else in a temporary directory of its own), printing
its path and a one-line summary. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from binance_lake.cli.render import OutputFormat, console, print_table
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError

if TYPE_CHECKING:
    from binance_lake.lake import Lake

DEMO_SYMBOLS = ("BTCUSDT", "ETHUSDT", "XEMUSDT")  # XEMUSDT is delisted on 2023-10-31 in the simulator
DEMO_DATASETS = "klines,markPriceKlines,indexPriceKlines,premiumIndexKlines,fundingRate,metrics"
DEMO_START, DEMO_END = "2023-08-01", "2023-11-30"
# The simulator's clock for the demo: at 06:00 yesterday's daily files are not published yet (about 08:40).
DEMO_NOW = "2026-11-20T06:00:00+00:00"
# Written into every lake the demo makes: `--root DIR` reuses such a lake, but never fills a real lake (or any
# other non-empty directory) with simulator data.
DEMO_MARKER = ".binance-lake-demo"


def _claim(root: Path) -> None:
    """Make `root` a demo lake: it must be new, empty or made by an earlier demo."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"--root {root} is a file; give a new or empty directory for the demo lake")
    if root.is_dir() and not (root / DEMO_MARKER).exists() and any(root.iterdir()):
        raise UsageError(
            f"--root {root} is not empty and was not made by `binance-lake demo`; the demo writes simulator "
            "data, so give a new or empty directory"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / DEMO_MARKER).write_text("made by `binance-lake demo`: simulator data, not Binance's\n")
    except OSError as error:
        raise UsageError(f"cannot create the demo lake at {root}: {error.strerror}") from None


def _step(text: str) -> float:
    console.print(f"[bold cyan]›[/] {escape(text)}")
    return time.monotonic()


def _done(started: float, text: str) -> None:
    console.print(f"  {escape(text)} [dim]({time.monotonic() - started:.1f} s)[/]")


def _report(frame: object) -> None:
    import pandas as pd
    import pyarrow as pa

    assert isinstance(frame, pd.DataFrame)
    # Through print_table, so no value is cut however narrow the terminal (or piped, at natural width).
    per_symbol: dict[str, list[str]] = {
        c: [] for c in ("symbol", "bars", "first", "last", "mean close", "mean funding", "mean OI")
    }
    for symbol, rows in frame.groupby("symbol", sort=True):
        values = (
            str(symbol),
            f"{len(rows):,}",
            f"{rows['open_time'].min():%Y-%m-%d}",
            f"{rows['open_time'].max():%Y-%m-%d}",
            f"{rows['close'].mean():,.4f}",
            f"{rows['funding_rate'].mean():.6f}",
            f"{rows['sum_open_interest'].mean():,.0f}",
        )
        for column, value in zip(per_symbol, values, strict=True):
            per_symbol[column].append(value)
    print_table(pa.table(per_symbol), OutputFormat.TABLE, title="aligned 1h bars per symbol")
    columns = ["symbol", "open_time", "close", "mark_close", "index_close", "funding_rate"]
    first: dict[str, list[str]] = {c: [] for c in columns}
    for row in frame[columns].head(3).itertuples(index=False):
        values = (row[0], f"{row[1]:%Y-%m-%d %H:%M}", *(f"{v:g}" for v in row[2:]))
        for column, value in zip(columns, values, strict=True):
            first[column].append(value)
    print_table(pa.table(first), OutputFormat.TABLE, title="first bars")


def _update(lake: Lake) -> None:
    """The update step: BTCUSDT 1h held to three days ago, brought to the last closed bar."""
    now = dt.datetime.fromisoformat(DEMO_NOW)
    held_to = (now - dt.timedelta(days=3)).date()
    lake.sync(
        datasets="klines",
        intervals="1h",
        symbols="BTCUSDT",
        start=held_to - dt.timedelta(days=1),
        end=held_to,
    )
    started = _step(
        f"update BTCUSDT 1h (held to {held_to}) at the simulator's clock {now:%Y-%m-%d %H:%M} UTC"
    )
    report = lake.update(market="um", datasets="klines", intervals="1h", symbols="BTCUSDT")
    archived = sum(s.execution.ingested for s in report.syncs if s.execution)
    _done(
        started,
        f"archive: {archived} file(s) ingested; REST: {report.fill.rows} bars in {report.fill.requests} requests",
    )
    for series, newest in report.last_bars.items():
        days = ", ".join(d.isoformat() for d in report.provisional.get(series, ()))
        console.print(
            f"  {escape(str(series))}: last closed bar {newest:%Y-%m-%d %H:%M} UTC"
            + (f"; provisional (REST) days: {escape(days)}" if days else ""),
            highlight=False,
        )


def _check_and_report(lake: Lake, root: Path | None, now: dt.datetime) -> None:
    """Check the demo lake and write its HTML report where it survives the demo."""
    started = _step("check: integrity, quality rules, gaps; and the HTML report")
    checked = lake.check(end=DEMO_END, now=now)
    folder = root.expanduser() if root else Path(tempfile.mkdtemp(prefix="binance-lake-demo-report-"))
    try:
        written = lake.report(folder / "report.html")
    except UsageError as error:  # plotly (the `report` extra) is not installed
        _done(started, f"{checked.line()}; no report: {error}")
        return
    _done(started, checked.line())
    console.print(f"  report: {escape(str(written))}", highlight=False)


def demo_command(
    ctx: typer.Context,
    root: Path | None = typer.Option(
        None, "--root", help="Keep the demo lake here (default: a temporary dir)."
    ),
) -> None:
    """Run the whole pipeline against the built-in simulator and print a short report (under a minute)."""
    if root is None and state(ctx).flags.get("root"):
        root = Path(str(state(ctx).flags["root"])).expanduser()  # `binance-lake --root DIR demo` keeps it too
    from binance_lake.lake import Lake
    from binance_lake.sim.server import SimServer
    from binance_lake.sim.universe import Universe

    if root is not None:
        _claim(root.expanduser())
    lake_root = root.expanduser() if root else Path(tempfile.mkdtemp(prefix="binance-lake-demo-"))
    began = time.monotonic()
    try:
        started = _step("starting the Binance simulator on 127.0.0.1")
        with SimServer(Universe.build("small", now=dt.datetime.fromisoformat(DEMO_NOW))) as sim:
            _done(started, f"serving {sim.base_url}")
            lake = Lake(settings=sim.settings(lake_root))

            started = _step("catalog refresh: um fundingRate files (every symbol, delisted ones too)")
            refreshed = lake.catalog.refresh(markets="um", datasets="fundingRate")
            symbols = lake.catalog.symbols(markets="um")
            delisted = sorted(symbols.loc[symbols["delisted"].eq(True), "symbol"])  # NULL: not known
            _done(
                started,
                f"{refreshed.files_seen} files, {len(symbols)} um symbols, {len(delisted)} delisted: "
                + ", ".join(delisted),
            )

            started = _step(
                f"sync {', '.join(DEMO_SYMBOLS)}, {DEMO_START} .. {DEMO_END}: {DEMO_DATASETS} (1h)"
            )
            report = lake.sync(
                market="um",
                datasets=DEMO_DATASETS,
                intervals="1h",
                symbols=DEMO_SYMBOLS,
                start=DEMO_START,
                end=DEMO_END,
            )
            execution = report.execution
            assert execution is not None
            _done(
                started,
                f"{execution.ingested} files verified and ingested, {execution.rows:,} rows, "
                f"{execution.bytes / 1e6:.1f} MB, {len(execution.failures)} failed",
            )

            started = _step(
                "load_aligned: klines, mark, index, premium, funding, metrics (as-of, no look-ahead)"
            )
            frame = lake.load_aligned(list(DEMO_SYMBOLS), DEMO_START, DEMO_END, interval="1h")
            _done(started, f"{len(frame):,} rows × {len(frame.columns)} columns")
            _report(frame)
            _update(lake)
            _check_and_report(lake, root, sim.universe.clock.now())
        where = f"lake kept at {lake_root}" if root else "temporary lake removed (use --root DIR to keep it)"
        console.print(f"[bold green]done[/] in {time.monotonic() - began:.1f} s; {escape(where)}")
        if not execution.ok:
            raise typer.Exit(1)
    finally:
        if root is None:
            shutil.rmtree(lake_root, ignore_errors=True)
