from __future__ import annotations

import subprocess
import sys


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
