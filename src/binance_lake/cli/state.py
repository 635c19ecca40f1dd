"""The settings flags every command shares, resolved once into `Settings` (flag > env > toml > default)."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from binance_lake.core.settings import Settings, resolve_settings


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
