"""The option vocabulary every command shares, and the old spellings kept for one release.

The rule: a singular option (`--market`, `--dataset`, `--interval`) takes one value; a plural one (`--markets`,
`--datasets`, `--intervals`, `--symbols`) takes a comma-separated list, and an option is plural wherever the
command can take a list. Every command that prints results takes `--format table|csv|json`. The spellings this
rule replaced (`catalog snapshot --market`, `sync --json`, …) still work, hidden from `--help`, with a note on
stderr; they go in the next release.
"""

from __future__ import annotations

from typing import Any

import typer

from binance_lake.cli.render import OutputFormat, err_console
from binance_lake.core.errors import UsageError

_notes = err_console

FORMAT_HELP = "Output: table (for people), csv or json (for pipes)."


FORMAT: Any = typer.Option(OutputFormat.TABLE, "--format", help=FORMAT_HELP)
"""`--format table|csv|json`, default table (one shared option: typer copies it per command)."""


def old_spelling(flag: str, new: str) -> Any:
    """A hidden option `flag`: the old spelling of `new`."""
    return typer.Option(None, flag, hidden=True, help=f"Old spelling of {new} (goes in the next release).")


def renamed(value: Any, old_value: Any, *, new: str, old: str) -> Any:
    """The value given as `new`, or as its old spelling `old` (with a note on stderr)."""
    if old_value is None:
        return value
    _notes.print(f"note: {old} is now {new}; the old spelling goes in the next release", highlight=False)
    if value is not None and value != old_value:
        raise UsageError(f"give {new} only, not also its old spelling {old}")
    return old_value
