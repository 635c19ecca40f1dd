"""`binance-lake load | query | status` through the real entry point: files written, warnings, exit codes."""

from __future__ import annotations

import datetime as dt
import os
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
# The child process imports the same source tree as the tests (a worktree's, not the installed one's).
SOURCE = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
D = dt.date


def run(root: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **SOURCE, **(env_extra or {})},
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


def test_query_values_are_data_not_markup(root: Path) -> None:
    # '[/red]' raised rich's MarkupError (a traceback); ':x:' became an emoji.
    sql = "SELECT '[/red]' AS a, ':x: [bold]b' AS \"[red]c\", '[env BINANCE_LAKE_ROOT]' AS d"
    for fmt in ("table", "csv", "json"):
        result = run(root, "query", sql, "--format", fmt)
        assert result.returncode == 0, result.stderr
        for value in ("[/red]", ":x: [bold]b", "[red]c", "[env BINANCE_LAKE_ROOT]"):
            assert value in result.stdout, (fmt, value, result.stdout)


def test_an_error_quoting_markup_is_printed_as_is(root: Path) -> None:
    result = run(root, "query", 'SELECT * FROM "nowhere_[bold]:x:"')
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nowhere_[bold]:x:" in result.stderr, result.stderr


def test_a_piped_table_never_cuts_a_symbol_or_a_date(root: Path) -> None:
    # Piped output was laid out at a fixed 120 columns: `1000000B…`, `2025-02-…`.
    columns = ", ".join(
        [
            "'1000000BOBUSDT' AS symbol",
            "DATE '2025-02-01' AS first_day",
            "TIMESTAMP '2025-11-30 23:00:00' AS last_bar",
            "'data/futures/um/daily/premiumIndexKlines/1000000BOBUSDT/1h/' AS directory",
            "'1000000BOBUSDT-1h-2025-02-01.zip' AS file",
            "123456789012 AS bytes",
        ]
    )
    for width in ("80", "200"):
        result = run(root, "query", f"SELECT {columns}", env_extra={"COLUMNS": width})
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout
        for value in (
            "1000000BOBUSDT",
            "2025-02-01",
            "2025-11-30 23:00:00",
            "1000000BOBUSDT-1h-2025-02-01.zip",
        ):
            assert value in result.stdout, (width, value, result.stdout)
        assert "data/futures/um/daily/premiumIndexKlines/1000000BOBUSDT/1h/" in result.stdout


def test_load_help_states_the_range_rule() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "load", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **SOURCE},
    )
    text = " ".join(result.stdout.replace("│", " ").split())
    # The help said "Last day, included" while a time-valued --end is exclusive (DESIGN: dates inclusive,
    # timestamps half-open).
    assert "Last day (YYYY-MM-DD), included; or a time (YYYY-MM-DDTHH:MM, UTC), excluded" in text, text
    assert "times are half-open, the --end time excluded" in text, text


def test_the_range_rule_the_help_states(root: Path, tmp_path: Path) -> None:
    def rows(start: str, end: str) -> int:
        out = tmp_path / f"{start}-{end}.parquet".replace(":", "")
        args = ("klines", "--symbols", "BTCUSDT", "--interval", "1h", "--out", str(out))
        result = run(root, "load", *args, "--start", start, "--end", end)
        assert result.returncode == 0, result.stderr
        return pq.read_table(out).num_rows

    assert rows("2024-01-01", "2024-01-01") == 24  # a date: the whole day, included
    assert rows("2024-01-01T00:00", "2024-01-01T05:00") == 5  # a time: excluded
    assert rows("2024-01-01T05:00", "2024-01-02") == 19 + 24


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
