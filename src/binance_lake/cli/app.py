"""The `binance-lake` command: the typer application, its sub-command groups and error handling.

Errors become one sentence on stderr: a usage error exits with 2, any other binance-lake error with 1.
Command modules are imported here so `--help` lists them; each keeps its heavy imports inside functions.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from binance_lake import __version__
from binance_lake.cli.catalog_cmd import catalog_app
from binance_lake.cli.demo_cmd import demo_command
from binance_lake.cli.load_cmd import load_command, query_command, status_command
from binance_lake.cli.state import CliState
from binance_lake.cli.sync_cmd import sync_command
from binance_lake.core.errors import BinanceLakeError, UsageError

app = typer.Typer(
    name="binance-lake",
    help="A local, verified, queryable mirror of Binance market data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True)

from binance_lake.cli.sim_cmd import sim_app  # noqa: E402 - sub-command groups register after `app`

app.add_typer(sim_app, name="sim")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"binance-lake {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    root: str | None = typer.Option(None, "--root", help="Lake directory [env BINANCE_LAKE_ROOT]."),
    config: str | None = typer.Option(
        None, "--config", help="Settings file [env BINANCE_LAKE_CONFIG; default ./binance-lake.toml]."
    ),
    archive_url: str | None = typer.Option(None, "--archive-url", help="[env BINANCE_LAKE_ARCHIVE_URL]"),
    listing_url: str | None = typer.Option(None, "--listing-url", help="[env BINANCE_LAKE_LISTING_URL]"),
    fapi_url: str | None = typer.Option(None, "--fapi-url", help="[env BINANCE_LAKE_FAPI_URL]"),
    dapi_url: str | None = typer.Option(None, "--dapi-url", help="[env BINANCE_LAKE_DAPI_URL]"),
    spot_api_url: str | None = typer.Option(None, "--spot-api-url", help="[env BINANCE_LAKE_SPOT_API_URL]"),
    fstream_url: str | None = typer.Option(None, "--fstream-url", help="[env BINANCE_LAKE_FSTREAM_URL]"),
) -> None:
    """A local, verified, queryable mirror of Binance market data."""
    ctx.obj = CliState(
        flags={
            "root": root,
            "archive_url": archive_url,
            "listing_url": listing_url,
            "fapi_url": fapi_url,
            "dapi_url": dapi_url,
            "spot_api_url": spot_api_url,
            "fstream_url": fstream_url,
        },
        config=config,
    )


app.add_typer(catalog_app, name="catalog")
app.command("sync")(sync_command)
app.command("demo")(demo_command)
app.command("load")(load_command)
app.command("query")(query_command)
app.command("status")(status_command)


INTERRUPTED = "interrupted; everything already stored is kept"


def _interrupted(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt caused `error` (typer turns Ctrl-C into a silent `sys.exit(130)`)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def main() -> None:
    """Console-script entry point."""
    try:
        # Standalone mode: typer reports bad flags itself (exit 2) and exits; our errors propagate here.
        app()
    except SystemExit as exit_:
        if not _interrupted(exit_):
            raise
        err_console.print(INTERRUPTED)
        sys.exit(130)
    except UsageError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except BinanceLakeError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED)
        sys.exit(130)
