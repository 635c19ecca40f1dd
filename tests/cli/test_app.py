from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from rich.text import Text

from binance_lake.cli.app import app
from tests.cli.runner import assert_one_sentence, read_only, run_cli


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_tool() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "Binance market data" in result.stdout


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("binance-lake ")


def test_unknown_command_is_a_usage_error() -> None:
    result = _run("frobnicate")
    assert result.returncode == 2


def _texts(command: click.Command, path: str = "binance-lake") -> Iterator[tuple[str, str]]:
    yield path, command.help or ""
    for param in command.params:
        yield f"{path} {param.name}", getattr(param, "help", None) or ""
    subcommands: dict[str, click.Command] = getattr(command, "commands", {})  # typer's groups and click's
    for name, sub in subcommands.items():
        yield from _texts(sub, f"{path} {name}")


def test_every_help_text_is_shown_as_written() -> None:
    # typer renders help as rich markup: "Lake directory [env BINANCE_LAKE_ROOT]." showed as "Lake directory .".
    texts = list(_texts(typer.main.get_command(app)))
    assert len(texts) > 50
    for where, text in texts:
        assert Text.from_markup(text).plain == text, where


def test_the_root_help_names_the_environment_variables() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    for name in ("BINANCE_LAKE_ROOT", "BINANCE_LAKE_CONFIG", "BINANCE_LAKE_ARCHIVE_URL"):
        assert name in result.stdout, result.stdout


SYNC = ("sync", "--datasets", "fundingRate", "--symbols", "BTCUSDT", "--start", "2024-01-01", "--no-refresh")


@pytest.mark.parametrize("command", [SYNC, ("status",), ("query", "SELECT 1"), ("catalog", "symbols")])
@pytest.mark.parametrize("where", ["a file", "inside a file", "under /proc"])
def test_a_root_that_cannot_be_a_lake_is_one_sentence(
    tmp_path: Path, where: str, command: tuple[str, ...]
) -> None:
    (tmp_path / "file").write_text("")
    root = {
        "a file": tmp_path / "file",
        "inside a file": tmp_path / "file" / "lake",
        "under /proc": Path("/proc/lake"),
    }
    result = run_cli("--root", str(root[where]), *command)
    assert_one_sentence(result, 2, f"the lake root {root[where]}")


def test_a_sync_into_an_unwritable_lake_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    with read_only(tmp_path / "lake"):
        result = run_cli("--root", str(tmp_path / "lake"), *SYNC)
        inner = run_cli("--root", str(tmp_path / "lake" / "inner"), *SYNC)
    assert_one_sentence(result, 1, "cannot write to the lake")
    assert_one_sentence(inner, 1, "cannot create the lake directory")
