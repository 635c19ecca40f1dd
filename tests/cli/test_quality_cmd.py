"""`binance-lake check` and `gaps` on the command line: exit 0 on a clean lake, 1 with each problem and its
repair named, 2 for bad input, one sentence for a missing lake; `--json` and `--format csv` for pipes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from binance_lake.lake import Lake
from binance_lake.sim import placement
from binance_lake.sim.server import SimServer
from tests.cli.runner import assert_one_sentence, run_cli


@pytest.fixture(scope="module")
def root(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-checked")
    lake = Lake(settings=sim_server.settings(root))
    assert lake.sync(
        datasets="klines",
        intervals="1h",
        symbols="BTCUSDT,ETHUSDT,SOLUSDT",
        start="2023-03-01",
        end="2023-03-31",
    ).ok
    (truncated,) = placement.TRUNCATED
    assert lake.sync(
        datasets="trades", symbols=truncated.symbol, start=truncated.period, end=truncated.last_day
    ).ok
    return root


def test_a_clean_series_checks_ok_and_its_gaps_are_listed(root: Path) -> None:
    result = run_cli("check", "--root", str(root), "--datasets", "klines", "--end", "2023-03-31")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ok: no findings; gaps: 3 maintenance")
    listed = run_cli("gaps", "--root", str(root), "--kind", "maintenance", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert listed.returncode == 0 and sorted(r["symbol"] for r in rows) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert {r["start_time"][:16] for r in rows} == {"2023-03-24 12:00"}


def test_problems_exit_1_and_name_their_repair(root: Path) -> None:
    result = run_cli("check", "--root", str(root), "--datasets", "trades", "--end", "2022-07-31")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "day_rows_low" in result.stdout and "repair:" in result.stdout
    as_json = run_cli("check", "--root", str(root), "--datasets", "trades", "--end", "2022-07-31", "--json")
    record = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and record["ok"] is False
    assert record["rules"] == {"day_rows_low": len(record["findings_list"])}


def test_bad_input_is_one_sentence(root: Path, tmp_path: Path) -> None:
    assert_one_sentence(
        run_cli("check", "--root", str(root), "--start", "2024-02-01", "--end", "2024-01-01"), 2, "after"
    )
    assert_one_sentence(run_cli("check", "--root", str(root), "--start", "yesterday"), 2, "yesterday")
    assert_one_sentence(run_cli("gaps", "--root", str(tmp_path / "none")), 2, "no lake")


def test_a_second_check_carries_unchanged_series_and_full_scans_again(root: Path) -> None:
    ask = (
        "check",
        "--root",
        str(root),
        "--datasets",
        "klines",
        "--start",
        "2023-03-01",
        "--end",
        "2023-03-31",
    )
    first = json.loads(run_cli(*ask, "--json").stdout)
    second = json.loads(run_cli(*ask, "--json").stdout)
    assert (second["series_scanned"], second["series_carried"]) == (0, 3)
    assert second["gaps"] == first["gaps"] == {"maintenance": 3}
    full = run_cli(*ask, "--full")
    assert full.returncode == 0 and "3 series scanned, 0 unchanged since the last check" in full.stdout
