"""Run `binance-lake` in a subprocess of this source tree, and check what a failure must look like.

The subprocess gets a clean environment (plus `PYTHONPATH`, so it imports the tree under test), a wide terminal
(rich does not wrap a one-sentence error, however long its paths), and whatever settings the test passes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "1000"}
    if os.environ.get("PYTHONPATH"):
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**base, **(env or {})}


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=cli_env(env),
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The command failed with `code` and said so in one line on stderr, naming `words`; returns the line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make `path` (recursively) unwritable for this user, then restore it.

    root ignores permission bits, so as root the tree is made immutable with `chattr +i` (ext4 and most local
    file systems honour it even for root); where that is impossible the test is skipped, never faked.
    """
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield path
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a directory unwritable")
    made = subprocess.run([chattr, "-R", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        subprocess.run([chattr, "-R", "-i", str(path)], capture_output=True, check=False)
        pytest.skip(f"running as root and chattr +i failed here: {made.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-R", "-i", str(path)], capture_output=True, check=True)
