"""`binance-lake demo` prints what the README says it prints (ports and timings aside)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _normalised(text: str) -> str:
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\d+\.\d s\b", "N s", text)
    return " ".join(text.split())  # a terminal wraps the long lines where a pipe does not


def test_the_demo_prints_what_the_readme_shows() -> None:
    readme = README.read_text()
    shown = readme.split("## What `make demo` prints", 1)[1].split("```", 2)[1]
    result = subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert _normalised(result.stdout) == _normalised(shown)
    seconds = float(re.search(r"done in (\d+\.\d) s", result.stdout).group(1))  # type: ignore[union-attr]
    assert seconds < 60  # "under a minute", as the demo's help says
