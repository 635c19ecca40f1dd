"""The settings flags every command shares, resolved once into `Settings` (flag > env > toml > default).

The global options (`--root`, `--config`, the endpoint URLs, …) are declared once, on the root callback in
`cli/app.py`. `SettingsCommand` makes every command that reads the settings accept them after its name too
(`binance-lake status --root X` as well as `binance-lake --root X status`): it offers copies of the root's
options and, when one is given after the command, runs the root callback again with it, so whatever the root
callback records (now or later) is recorded the same way from either position. Given in both places, the one
after the command wins.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import typer
from typer.core import TyperCommand

from binance_lake.core.settings import Settings, resolve_settings

GLOBAL_PANEL = "Global options (also accepted before the command)"


@dataclass
class CliState:
    flags: dict[str, str | None] = field(default_factory=dict)
    config: str | None = None
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = resolve_settings(self.flags, config=self.config)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The state the root callback stored; a bare sub-app invocation (tests) gets defaults."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def _global_params(ctx: typer.Context, own: set[str]) -> list[Any]:
    """Copies of the root command's value-taking options (not `--version`, not `--help`)."""
    root = ctx.find_root()
    if root is ctx:
        return []
    found = []
    for param in root.command.params:
        if param.is_eager or not param.expose_value or param.name in own:
            continue
        clone = copy.copy(param)
        clone.rich_help_panel = GLOBAL_PANEL  # type: ignore[attr-defined]
        found.append(clone)
    return found


class SettingsCommand(TyperCommand):
    """A command that reads the settings: it also takes the global options after its name."""

    def _own(self) -> set[str]:
        return {p.name for p in self.params if p.name}

    # `ctx` is click's Context (typer vendors click and exports only the subclass `typer.Context`).
    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        help_option = self.get_help_option(ctx)
        head = [p for p in params if p is not help_option]
        return [*head, *_global_params(ctx, self._own()), *([help_option] if help_option else [])]

    def invoke(self, ctx: Any) -> Any:
        root = ctx.find_root()
        given: dict[str, Any] = {}
        for param in _global_params(ctx, self._own()):
            name = param.name
            value = ctx.params.pop(name, None)
            source = ctx.get_parameter_source(name)
            if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
                given[name] = value
        if given and root.command.callback is not None:
            # Run the root callback again with these values, so they are recorded exactly as there.
            root.invoke(root.command.callback, **{**root.params, **given})
        return super().invoke(ctx)
