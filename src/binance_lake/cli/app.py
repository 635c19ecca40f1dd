"""The `binance-lake` command: the typer application, its sub-command groups and error handling.

Errors become one sentence on stderr: a usage error exits with 2, any other binance-lake error with 1.
Command modules are imported here so `--help` lists them; each keeps its heavy imports inside functions:
a module's top imports only the standard library, typer, rich, `binance_lake.core`, other cli modules and
`realtime.channels` (the default of `stream --channels`); the `Lake`, pyarrow, ops and storage are imported
by the function that uses them, and names needed only in annotations under `TYPE_CHECKING`. So `--help` of any
command imports no pyarrow, DuckDB or aiohttp (tests/cli/test_start_up.py).
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from binance_lake import __version__
from binance_lake.cli.catalog_cmd import catalog_app
from binance_lake.cli.cleanup_cmd import cleanup_command
from binance_lake.cli.compact_cmd import compact_command
from binance_lake.cli.config_cmd import config_app
from binance_lake.cli.daemon_cmd import daemon_command
from binance_lake.cli.demo_cmd import demo_command
from binance_lake.cli.export_postgres_cmd import register as register_export_postgres
from binance_lake.cli.fast_start import command_line_process
from binance_lake.cli.load_cmd import load_command, query_command, status_command
from binance_lake.cli.monitor_cmd import monitor_command
from binance_lake.cli.quality_cmd import check_command, gaps_command, health_command, report_command
from binance_lake.cli.render import err_console
from binance_lake.cli.state import CliState, SettingsCommand
from binance_lake.cli.stream_cmd import stream_command
from binance_lake.cli.sync_cmd import sync_command
from binance_lake.cli.update_cmd import update_command
from binance_lake.core.errors import BinanceLakeError, UsageError

app = typer.Typer(
    name="binance-lake",
    help="A local, verified, queryable mirror of Binance market data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from binance_lake.cli.sim_cmd import sim_app  # noqa: E402 - sub-command groups register after `app`

app.add_typer(sim_app, name="sim")

from binance_lake.cli.export_cmd import export_app  # noqa: E402

app.add_typer(export_app, name="export")


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
    root: str | None = typer.Option(
        None,
        "--root",
        help="Lake directory or s3://bucket/prefix (env BINANCE_LAKE_ROOT; default ~/.binance-lake).",
    ),
    config: str | None = typer.Option(
        None, "--config", help="Settings file (env BINANCE_LAKE_CONFIG; default ./binance-lake.toml)."
    ),
    archive_url: str | None = typer.Option(
        None,
        "--archive-url",
        help="Archive files from here (env BINANCE_LAKE_ARCHIVE_URL; default https://data.binance.vision).",
    ),
    listing_url: str | None = typer.Option(
        None,
        "--listing-url",
        help="S3 bucket that lists the archive (env BINANCE_LAKE_LISTING_URL; default Binance's bucket).",
    ),
    fapi_url: str | None = typer.Option(
        None,
        "--fapi-url",
        help="USD-M futures REST API (env BINANCE_LAKE_FAPI_URL; default https://fapi.binance.com).",
    ),
    dapi_url: str | None = typer.Option(
        None,
        "--dapi-url",
        help="COIN-M futures REST API (env BINANCE_LAKE_DAPI_URL; default https://dapi.binance.com).",
    ),
    spot_api_url: str | None = typer.Option(
        None,
        "--spot-api-url",
        help="Spot REST API (env BINANCE_LAKE_SPOT_API_URL; default https://api.binance.com).",
    ),
    fstream_url: str | None = typer.Option(
        None,
        "--fstream-url",
        help="USD-M futures streams (env BINANCE_LAKE_FSTREAM_URL; default wss://fstream.binance.com).",
    ),
    dstream_url: str | None = typer.Option(
        None,
        "--dstream-url",
        help="COIN-M futures streams (env BINANCE_LAKE_DSTREAM_URL; default wss://dstream.binance.com).",
    ),
    stall_timeout: float | None = typer.Option(
        None,
        "--stall-timeout",
        help="Give up after this many seconds without any answer or byte from the server; the state is "
        "kept and the same command resumes (env BINANCE_LAKE_STALL_TIMEOUT; default 120).",
    ),
) -> None:
    """A local, verified, queryable mirror of Binance market data.

    The global options may also follow the command (`binance-lake status --root DIR`).
    """
    ctx.obj = CliState(
        flags={
            "root": root,
            "archive_url": archive_url,
            "listing_url": listing_url,
            "fapi_url": fapi_url,
            "dapi_url": dapi_url,
            "spot_api_url": spot_api_url,
            "fstream_url": fstream_url,
            "dstream_url": dstream_url,
            "stall_timeout": None if stall_timeout is None else str(stall_timeout),
        },
        config=config,
    )


app.add_typer(catalog_app, name="catalog")
app.add_typer(config_app, name="config")
app.command("sync", cls=SettingsCommand)(sync_command)
app.command("update", cls=SettingsCommand)(update_command)
app.command("demo")(demo_command)
app.command("load", cls=SettingsCommand)(load_command)
app.command("query", cls=SettingsCommand)(query_command)
app.command("status", cls=SettingsCommand)(status_command)
app.command("daemon", cls=SettingsCommand)(daemon_command)
app.command("monitor", cls=SettingsCommand)(monitor_command)
app.command("stream", cls=SettingsCommand)(stream_command)

register_export_postgres(export_app)
app.command("cleanup", cls=SettingsCommand)(cleanup_command)
app.command("compact", cls=SettingsCommand)(compact_command)
for _name, _command in (
    ("check", check_command),
    ("gaps", gaps_command),
    ("health", health_command),
    ("report", report_command),
):
    app.command(_name, cls=SettingsCommand)(_command)


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
    command_line_process()
    try:
        # Standalone mode: typer reports bad flags itself (exit 2) and exits; our errors propagate here.
        app()
    except SystemExit as exit_:
        if not _interrupted(exit_):
            raise
        err_console.print(INTERRUPTED)
        sys.exit(130)
    except UsageError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        sys.exit(2)
    except BinanceLakeError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED)
        sys.exit(130)
