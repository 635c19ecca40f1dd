"""`binance-lake config show`: every resolved setting, its value and where it came from (a global flag, the
environment, binance-lake.toml, or the default), as `core.settings.explain_settings` resolves them."""

from __future__ import annotations

import typer

from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, print_table
from binance_lake.cli.state import SettingsCommand, state
from binance_lake.core.settings import explain_settings

config_app = typer.Typer(help="The settings binance-lake runs with.", no_args_is_help=True)


@config_app.command("show", cls=SettingsCommand)
def show_command(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """Print each resolved setting and where it came from: flag, env, file or default."""
    import pyarrow as pa

    cli = state(ctx)
    rows = explain_settings(cli.flags, config=cli.config)
    table = pa.table(
        {
            "setting": [r.name for r in rows],
            "value": [r.value for r in rows],
            "source": [r.source for r in rows],
        }
    )
    print_table(table, fmt, title="settings")
