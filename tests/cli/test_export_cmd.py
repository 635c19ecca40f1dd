"""`binance-lake export qlib | csv` through the real entry point: files written, the JSON summary, and
one-sentence refusals with exit 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from binance_lake.core.vocabulary import Interval
from tests.cli.runner import assert_one_sentence, run_cli
from tests.load.lakes import LakeBuilder, bars


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    builder = LakeBuilder(path)
    rows = bars(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 48, Interval.H1)
    builder.put("klines", "BTCUSDT", rows, dt.date(2024, 1, 1), dt.date(2024, 1, 2), interval=Interval.H1)
    builder.commit()
    return path


def test_export_qlib_and_csv(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "qlib"
    args = ["export", "qlib", "--root", str(root), "--freq", "60min", "--symbols", "BTCUSDT"]
    done = run_cli(
        *args, "--start", "2024-01-01", "--end", "2024-01-02", "--out", str(out), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["symbols"] == 1 and summary["rows"] == 48 and summary["new"] == ["BTCUSDT"]
    assert (out / "features" / "binance_um.btcusdt" / "close.60min.bin").stat().st_size == 4 * 49
    assert len((out / "calendars" / "60min.txt").read_text().splitlines()) == 48
    csv_out = tmp_path / "csv"
    done = run_cli(
        "--root",
        str(root),
        "export",
        "csv",
        "--intervals",
        "1h",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
        "--out",
        str(csv_out),
        "--iso",
    )
    assert done.returncode == 0, done.stderr
    assert "files_written" in done.stdout
    written = csv_out / "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.csv"
    assert written.read_text().splitlines()[1].startswith("2024-01-01T00:00:00.000Z,")


def test_export_lists_its_commands() -> None:
    done = run_cli("export", "--help")
    assert done.returncode == 0 and "qlib" in done.stdout and "csv" in done.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["qlib", "--freq", "1h", "--symbols", "BTCUSDT"], ["1min, 60min or day"]),
        (["qlib", "--freq", "day", "--symbols", "BTCUSDT", "--all"], ["either --symbols or --all"]),
        (["qlib", "--freq", "day", "--symbols", "BTCUSDT", "--include-delisted"], ["--include-delisted"]),
        (
            ["qlib", "--freq", "day", "--symbols", "BTCUSDT", "--prefix", "x.", "--start", "2025-01-01"],
            ["holds no"],
        ),
        (["csv", "--symbols", "BTCUSDT"], ["needs --intervals"]),
    ],
)
def test_bad_input_exits_2_with_one_sentence(
    root: Path, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    start = [] if "--start" in args else ["--start", "2024-01-01"]
    done = run_cli("--root", str(root), "export", *args, *start, "--out", str(tmp_path / "o"))
    assert_one_sentence(done, 2, *words)


def test_export_progress_on_stderr_as_json_lines(root: Path, tmp_path: Path) -> None:
    """With --format json the export's progress is JSON lines on stderr (as sync's), stdout the summary."""
    out = tmp_path / "qlib"
    done = run_cli(
        *("export", "qlib", "--root", str(root), "--freq", "60min", "--symbols", "BTCUSDT"),
        *("--start", "2024-01-01", "--end", "2024-01-02", "--out", str(out), "--format", "json"),
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines[-1]["event"] == "progress" and lines[-1]["phase"] == "export"
    assert (lines[-1]["series_done"], lines[-1]["series_total"], lines[-1]["rows"]) == (1, 1, 48)
    assert json.loads(done.stdout)["rows"] == 48
