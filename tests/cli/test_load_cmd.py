"""`binance-lake load | query | status` through the real entry point: files written, warnings, exit codes."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from binance_lake.core.vocabulary import Interval
from tests.cli.runner import assert_one_sentence, read_only, run_cli
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


def _load(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    base = ("--root", str(root), "load", "klines", "--symbols", "BTCUSDT", "--interval", "1h")
    return run_cli(*base, "--start", "2024-01-01", *extra)


def test_load_with_an_end_past_the_calendar_is_one_sentence(root: Path, tmp_path: Path) -> None:
    result = _load(root, "--end", "9999-12-31", "--out", str(tmp_path / "x.parquet"))
    assert_one_sentence(result, 2, "9999-12-31", "too far in the future")


def test_load_into_a_directory_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "rows.parquet").mkdir()
    result = _load(root, "--end", "2024-01-02", "--out", str(tmp_path / "rows.parquet"))
    assert_one_sentence(result, 2, "is a directory")


def test_load_into_a_missing_directory_is_refused_and_nothing_is_created(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "x.parquet"
    result = _load(root, "--end", "2024-01-02", "--out", str(out))
    assert_one_sentence(result, 2, str(out.parent), "does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("args", [("status",), ("query", "SELECT 1")])
def test_reading_a_lake_that_does_not_exist_says_so(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli("--root", str(missing), *args)
    assert_one_sentence(result, 2, f"no lake at {missing}")
    assert not missing.exists()


def test_reading_commands_work_on_a_read_only_lake(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "lake"
    shutil.copytree(root, copy)
    with read_only(copy):
        status = run_cli("--root", str(copy), "status", "--format", "json")
        query = run_cli("--root", str(copy), "query", "SELECT count(*) AS n FROM klines", "--format", "csv")
    assert status.returncode == 0 and '"days_held": 2' in status.stdout, status.stderr
    assert query.returncode == 0 and "48" in query.stdout, query.stderr


def test_query_cannot_read_files_outside_the_lake(root: Path) -> None:
    result = run_cli("--root", str(root), "query", "SELECT * FROM read_csv('/etc/passwd')")
    assert_one_sentence(result, 2, "/etc/passwd", "--unsafe")


def test_query_cannot_write_files_but_unsafe_can(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "copied.csv"
    copy = f"COPY (SELECT symbol FROM klines LIMIT 1) TO '{out}'"
    assert_one_sentence(run_cli("--root", str(root), "query", copy), 2, "COPY", "--unsafe")
    inside = root / "tables" / "stolen.csv"
    assert_one_sentence(run_cli("--root", str(root), "query", f"COPY (SELECT 1) TO '{inside}'"), 2, "COPY")
    assert not out.exists() and not inside.exists()
    unsafe = run_cli("--root", str(root), "query", "--unsafe", copy)
    assert unsafe.returncode == 0, unsafe.stderr
    assert out.read_text().splitlines() == ["symbol", "BTCUSDT"]


def test_query_reads_the_views_and_the_attached_catalog_under_the_sandbox(root: Path) -> None:
    sql = "SELECT (SELECT count(*) FROM klines) AS bars, (SELECT count(*) FROM lake.file_state) AS files"
    result = run_cli("--root", str(root), "query", sql, "--format", "csv")
    assert result.returncode == 0, result.stderr
    bars, files = result.stdout.splitlines()[1].split(",")
    assert bars == "48" and int(files) > 0
