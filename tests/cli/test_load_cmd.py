"""`binance-lake load | query | status` through the real entry point: files written, warnings, exit codes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from binance_lake.core.vocabulary import Interval
from tests.load.lakes import LakeBuilder, bars

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
D = dt.date


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    b = LakeBuilder(path)
    b.put("klines", "BTCUSDT", bars(T0, 48, Interval.H1), D(2024, 1, 1), D(2024, 1, 2), interval=Interval.H1)
    b.announce("klines", "BTCUSDT", D(2024, 1, 3), D(2024, 1, 3), interval=Interval.H1)
    b.commit()
    return path


def test_load_writes_parquet_and_warns_about_missing_days(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "btc.parquet"
    result = run(
        root,
        "load",
        "klines",
        "--symbols",
        "btcusdt",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-03",
        "--interval",
        "1h",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert pq.read_table(out).num_rows == 48
    assert "warning" in result.stderr and "2024-01-03" in result.stderr


def test_load_writes_csv(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "btc.csv"
    result = run(
        root,
        "load",
        "klines",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-02",
        "--interval",
        "1h",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert pacsv.read_csv(out).num_rows == 24 and result.stderr == ""


def test_load_with_nothing_to_write_exits_1(root: Path, tmp_path: Path) -> None:
    result = run(
        root,
        "load",
        "klines",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2024-01-03",
        "--end",
        "2024-01-03",
        "--interval",
        "1h",
        "--out",
        str(tmp_path / "none.csv"),
    )
    assert result.returncode == 1 and not (tmp_path / "none.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        [
            "load",
            "klines",
            "--symbols",
            "BTCUSDT",
            "--start",
            "2024-01-01",
            "--out",
            "x.xlsx",
            "--interval",
            "1h",
        ],
        ["load", "klines", "--symbols", "BTCUSDT", "--start", "2024-01-01", "--out", "x.csv"],
        [
            "load",
            "klines",
            "--symbols",
            "XRPUSDT",
            "--start",
            "2024-01-01",
            "--out",
            "x.csv",
            "--interval",
            "1h",
        ],
        ["query", "SELEKT 1"],
        ["status", "--format", "yaml"],
    ],
)
def test_bad_input_exits_2_with_one_sentence(root: Path, args: list[str]) -> None:
    result = run(root, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_query_and_status(root: Path) -> None:
    result = run(root, "query", "SELECT symbol, count(*) AS n FROM klines GROUP BY symbol", "--format", "csv")
    assert result.returncode == 0 and '"BTCUSDT",48' in result.stdout
    status = run(root, "status", "--format", "json")
    assert status.returncode == 0 and '"days_held": 2' in status.stdout
