"""`pyarrow_without_pandas`: in the command line's own process pyarrow converts without importing pandas, and
pandas stays importable; a process that runs the CLI in-process is left alone."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from binance_lake.cli import fast_start
{mark}
fast_start.pyarrow_without_pandas()
import pyarrow as pa
assert pa.array([1, 2, None]).null_count == 1 and pa.scalar("x").as_py() == "x"
print("pandas" in sys.modules)
import pandas
print(pandas.__name__)
"""


def _run(mark: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(mark=mark)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.split()


def test_the_command_line_process_converts_without_importing_pandas() -> None:
    assert _run("fast_start.command_line_process()") == ["False", "pandas"]


def test_any_other_process_is_left_as_pyarrow_made_it() -> None:
    assert _run("") == ["True", "pandas"]
