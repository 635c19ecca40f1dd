"""Start-up of the command line (issue 12): `--help` of any command imports none of the heavy libraries, and
a sync never imports pandas (`cli/fast_start.py` runs before anything imports pyarrow.dataset).

Each check runs a fresh interpreter: what a process has imported is only visible from inside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.sim.server import SimServer
from tests.cli.runner import cli_env

HEAVY = ("pyarrow", "duckdb", "aiohttp", "numpy", "pandas", "polars")

# Runs `binance-lake ARGS...` as the console script does, then writes which HEAVY modules it imported.
RUN_AND_REPORT = """
import json, sys
heavy, report, *args = sys.argv[1:]
sys.argv = ["binance-lake", *args]
from binance_lake.cli.app import main
try:
    main()
except SystemExit as exit_:
    code = exit_.code
else:
    code = 0
with open(report, "w") as out:
    json.dump({"code": code, "imported": [m for m in heavy.split(",") if m in sys.modules]}, out)
"""


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    report = tmp_path / "imported.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, ",".join(HEAVY), str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env(env),
    )
    assert report.exists(), result.stderr
    found: dict[str, object] = json.loads(report.read_text())
    return found


def test_importing_the_app_imports_no_heavy_library() -> None:
    check = f"import sys, binance_lake.cli.app; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=True, env=cli_env()
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [("--help",), ("sync", "--help"), ("catalog", "probe", "--help"), ("export", "postgres", "--help")],
)
def test_help_of_a_command_imports_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert _run(tmp_path, *args) == {"code": 0, "imported": []}


def test_a_sync_never_imports_pandas(sim_server: SimServer, tmp_path: Path) -> None:
    env = {**sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path / "lake")}
    sync = ("sync", "--datasets", "klines", "--intervals", "1h", "--symbols", "btcusdt")
    found = _run(tmp_path, *sync, "--start", "2026-11-05", "--end", "2026-11-06", "--format", "json", env=env)
    assert found["code"] == 0
    imported = found["imported"]
    assert isinstance(imported, list)
    assert "pandas" not in imported
    assert "pyarrow" in imported and list((tmp_path / "lake" / TABLES_DIR).rglob("*.parquet"))  # it synced
