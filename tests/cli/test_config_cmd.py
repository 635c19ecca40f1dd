"""`binance-lake config show` through the real entry point, and the `[defaults]` a sync without flags takes,
checked on a dry run against the simulator."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from binance_lake.core.settings import explain_settings
from binance_lake.sim.server import SimServer
from tests.cli.runner import assert_one_sentence, run_cli


def test_config_show_names_each_source(tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text('[defaults]\nmarket = "cm"\nsymbols = "BTCUSD_PERP"\n')
    done = run_cli(
        "config", "show", "--format", "csv", "--config", str(config), "--stall-timeout", "9",
        env={"BINANCE_LAKE_INTERVALS": "1d"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["setting"]: (r["value"], r["source"]) for r in csv.DictReader(io.StringIO(done.stdout))}
    assert rows["defaults.market"] == ("cm", f"file {config}")
    assert rows["defaults.intervals"] == ("1d", "env BINANCE_LAKE_INTERVALS")
    assert rows["stall_timeout"] == ("9.0", "flag --stall-timeout")
    assert rows["defaults.datasets"] == ("klines", "default")
    bad = run_cli("config", "show", env={"BINANCE_LAKE_MARKET": "moon"})
    assert_one_sentence(bad, 2, "moon")


def test_sync_without_flags_takes_the_defaults(sim_server: SimServer, tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text(
        '[symbols]\nmajors = ["BTCUSDT", "ETHUSDT"]\n'
        '[defaults]\nmarket = "um"\ndatasets = ["klines"]\nintervals = ["1d"]\nsymbols = "@majors"\n'
    )
    env = {
        **sim_server.settings_env(),
        "BINANCE_LAKE_ROOT": str(tmp_path / "lake"),
        "BINANCE_LAKE_CONFIG": str(config),
    }
    done = run_cli(
        "sync", "--start", "2024-01-01", "--end", "2024-01-02", "--dry-run", "--format", "json", env=env
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["market"], summary["datasets"], summary["intervals"]) == ("um", ["klines"], ["1d"])
    assert summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    # a flag given wins over its default
    spot = run_cli(
        "sync", "--market", "spot", "--symbols", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02",
        "--dry-run", "--format", "json", env=env,
    )  # fmt: skip
    assert spot.returncode == 0, spot.stderr
    assert (json.loads(spot.stdout)["market"], json.loads(spot.stdout)["symbols"]) == ("spot", ["BTCUSDT"])
    without = run_cli("sync", "--start", "2024-01-01", "--dry-run", env={**env, "BINANCE_LAKE_CONFIG": ""})
    assert_one_sentence(without, 2, "--symbols or --all")


def test_config_show_prints_the_daemons_tables(tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text(
        '[schedule]\nupdate = "0 2 * * *"\n[stream]\nsymbols = ["BTCUSDT", "ETHUSDT"]\n'
        '[export.qlib]\nfreq = "day"\nout = "q"\nstart = 2024-01-01\n[alerts]\nmax_failed_files = 0\n'
    )
    shown = {r.name: r.value for r in explain_settings(config=str(config), environ={})}
    assert shown["schedule"] == "update = 0 2 * * *"
    assert shown["stream"] == "symbols = BTCUSDT,ETHUSDT"
    assert shown["export"] == "qlib = {freq = day; out = q; start = 2024-01-01}"
    assert shown["alerts"] == "max_failed_files = 0"
