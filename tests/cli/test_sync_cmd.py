"""`binance-lake sync` through the real entry point against the simulator: JSON summary, dry run, the
quarantined file named with exit code 1, a second writer refused, bad input in one sentence with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.sim import placement
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import WriterLock
from tests.cli.runner import assert_one_sentence, run_cli


def run(server: SimServer, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "sync", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "COLUMNS": "200",
            **server.settings_env(),
            "BINANCE_LAKE_ROOT": str(root),
        },
    )


BTC_FEW_DAYS = ("--datasets", "klines,fundingRate", "--intervals", "1h", "--symbols", "btcusdt")


def test_json_summary_of_a_sync(sim_server: SimServer, tmp_path: Path) -> None:
    result = run(
        sim_server, tmp_path, *BTC_FEW_DAYS, "--start", "2026-11-05", "--end", "2026-11-07", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["symbols"] == ["BTCUSDT"] and summary["failed"] == []
    # Three daily kline files; November's funding file is monthly and not published yet.
    assert summary["planned_files"] == summary["ingested_files"] == 3
    assert summary["rows"] == 72 and summary["bytes"] == summary["planned_bytes"] > 0
    assert len(list((tmp_path / TABLES_DIR).rglob("*.parquet"))) == 1

    again = json.loads(
        run(
            sim_server, tmp_path, *BTC_FEW_DAYS, "--start", "2026-11-05", "--end", "2026-11-07", "--json"
        ).stdout
    )
    assert again["planned_files"] == 0 and again["held_files"] == 3


def test_dry_run_prints_files_and_bytes_and_writes_nothing(sim_server: SimServer, tmp_path: Path) -> None:
    result = run(
        sim_server, tmp_path, *BTC_FEW_DAYS, "--start", "2026-10-01", "--end", "2026-11-02", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "plan: 4 files" in result.stdout and " MB to fetch" in result.stdout
    assert "BTCUSDT-1h-2026-10.zip" in result.stdout and "BTCUSDT-1h-2026-11-02.zip" in result.stdout
    assert "fundingRate-2026-10.zip" in result.stdout
    assert not (tmp_path / TABLES_DIR).exists()


def test_a_quarantined_file_is_named_and_the_exit_code_is_1(sim_server: SimServer, tmp_path: Path) -> None:
    (bad,) = placement.WRONG_CHECKSUMS
    day = bad.period.isoformat()
    args = ("--datasets", bad.dataset, "--symbols", bad.symbol, "--start", day, "--end", day)
    result = run(sim_server, tmp_path, *args)
    assert result.returncode == 1
    assert "quarantined" in result.stdout and bad.key in result.stdout
    as_json = run(sim_server, tmp_path, *args, "--json")
    # Not fetched again, and not a failure of this run: it is listed among the skipped quarantined files.
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["quarantined_skipped"] == [bad.key]


def test_a_second_writer_is_refused(sim_server: SimServer, tmp_path: Path) -> None:
    with WriterLock(tmp_path):
        result = run(sim_server, tmp_path, *BTC_FEW_DAYS, "--start", "2026-11-01", "--end", "2026-11-01")
    assert result.returncode == 1
    assert "another binance-lake process" in result.stderr and "Traceback" not in result.stderr


def test_bad_input_is_one_sentence_and_exit_code_2(sim_server: SimServer, tmp_path: Path) -> None:
    cases = [
        ("--datasets", "klines", "--intervals", "1h", "--start", "2024-01-01"),  # neither --symbols nor --all
        ("--datasets", "klines", "--intervals", "1h", "--symbols", "BTC-USDT", "--start", "2024-01-01"),
        ("--datasets", "klines", "--intervals", "1h", "--symbols", "NOPEUSDT", "--start", "2024-01-01"),
        ("--datasets", "klines", "--symbols", "BTCUSDT", "--start", "2024-01-01"),  # klines need intervals
        ("--datasets", "candles", "--symbols", "BTCUSDT", "--start", "2024-01-01"),
        ("--datasets", "fundingRate", "--symbols", "BTCUSDT", "--start", "2024-02-01", "--end", "2024-01-01"),
    ]
    for args in cases:
        result = run(sim_server, tmp_path, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip(), args
    assert not (tmp_path / TABLES_DIR).exists()


def test_named_symbol_sets_from_the_config_file(sim_server: SimServer, tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text('[symbols]\ntop = ["btcusdt", "ETHUSDT"]\n')
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from binance_lake.cli.app import main; main()",
            "--config",
            str(config),
            "sync",
            "--datasets",
            "fundingRate",
            "--symbols",
            "@top",
            "--start",
            "2026-09-01",
            "--end",
            "2026-09-30",
            "--dry-run",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **sim_server.settings_env(),
            "BINANCE_LAKE_ROOT": str(tmp_path / "lake"),
        },
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert summary["planned_files"] == 2
    unknown = run(
        sim_server,
        tmp_path / "lake",
        "--datasets",
        "fundingRate",
        "--symbols",
        "@nope",
        "--start",
        "2026-09-01",
    )
    assert unknown.returncode == 2 and "unknown symbol set @nope" in unknown.stderr


@pytest.mark.parametrize("symbols", [",,", " ", ", ,", "@empty"])
def test_an_empty_symbol_list_is_refused_not_the_whole_market(
    sim_server: SimServer, tmp_path: Path, symbols: str
) -> None:
    (tmp_path / "binance-lake.toml").write_text("[symbols]\nempty = []\n")
    args = ("--config", str(tmp_path / "binance-lake.toml"), "sync", "--datasets", "fundingRate")
    result = run_cli(
        *args,
        "--symbols",
        symbols,
        "--start",
        "2026-09-01",
        "--end",
        "2026-09-30",
        "--dry-run",
        env={**sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path / "lake")},
    )
    assert_one_sentence(result, 2, "no symbols given")
