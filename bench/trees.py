"""The source trees an A/B benchmark compares (`--tree name=path`, run with `PYTHONPATH=<path>/src`).

Each tree's modules are compiled to bytecode before the first run, as pip does for an installed package.
Without it, a tree that never ran (a fresh `git worktree`, or any tree when `PYTHONDONTWRITEBYTECODE` is set)
compiles its ~200 modules in every measured process, ~0.15-0.3 s of a sync command, while a tree that
the tests already ran imports them from `__pycache__`: the difference would be measured as the change's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def parse_trees(specs: Iterable[str] | None, default: str = "main=.") -> list[tuple[str, Path]]:
    """`name=path` specs as (name, resolved path), each tree's `src` compiled to bytecode."""
    trees = [(name, Path(path).resolve()) for name, _, path in (s.partition("=") for s in specs or [default])]
    for _, tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "src")], check=True)
    return trees


def compile_installed() -> None:
    """Compile the installed binance_lake (an editable install runs from `src/`) as `parse_trees` does a tree,
    for the benchmarks that run the `binance-lake` command itself (bench/peers.py, bench/floor.py)."""
    import binance_lake  # the package alone: it imports nothing heavy

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(binance_lake.__file__).parent)], check=True
    )
