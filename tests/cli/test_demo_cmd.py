"""`binance-lake demo --root DIR`: it never fills a real lake (or any non-empty directory it did not make)."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_lake.cli.demo_cmd import DEMO_MARKER
from tests.cli.runner import assert_one_sentence, run_cli


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
