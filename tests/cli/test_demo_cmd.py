"""`binance-lake demo`: it prints what the README says it prints (ports and timings aside), and with
`--root DIR` it never fills a real lake (or any non-empty directory it did not make)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from binance_lake.cli.demo_cmd import DEMO_MARKER
from tests.cli.runner import assert_one_sentence, run_cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _normalised(text: str) -> str:
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\d+\.\d s\b", "N s", text)
    text = re.sub(r"report: \S+/report\.html", "report: DIR/report.html", text)
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


@pytest.mark.parametrize("content", ["lake.duckdb", "notes.txt"])
def test_demo_refuses_a_non_empty_root_it_did_not_make(tmp_path: Path, content: str) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    (root / content).write_text("a real lake's bytes")
    result = run_cli("demo", "--root", str(root), timeout=60)
    assert_one_sentence(result, 2, str(root), "not made by `binance-lake demo`")
    assert sorted(p.name for p in root.iterdir()) == [content]
    assert (root / content).read_text() == "a real lake's bytes"


def test_demo_refuses_a_file_as_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_one_sentence(run_cli("demo", "--root", str(tmp_path / "file"), timeout=60), 2, "is a file")
    assert (tmp_path / "file").read_text() == "x"


def test_demo_marks_its_lake_and_may_run_again_on_it(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = run_cli("demo", "--root", str(root), timeout=120)
    assert first.returncode == 0, first.stderr
    assert (root / DEMO_MARKER).is_file() and (root / "lake.duckdb").is_file()
    again = run_cli("demo", "--root", str(root), timeout=120)
    assert again.returncode == 0, again.stderr
