"""`binance-lake export postgres` in a subprocess: a table of what was copied, a re-run copies nothing, and
every failure is one sentence with the right exit code (never a traceback, never the DSN's password)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from binance_lake.sim.server import SimServer
from tests.cli.runner import assert_one_sentence, run_cli
from tests.engine.test_sync_sim import lake_on
from tests.pg_server import pg_dsn, pg_server

__all__ = ["pg_dsn", "pg_server"]


@pytest.fixture(scope="module")
def lake_root(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pg-cli")
    lake = lake_on(sim_server, root)
    assert lake.sync(
        datasets="fundingRate", symbols="BTCUSDT,ETHUSDT", start="2023-09-01", end="2023-10-31"
    ).ok
    return root


def test_export_then_nothing_new(lake_root: Path, pg_dsn: str) -> None:
    # --intervals narrows klines only: funding has no interval and is still exported.
    args = (
        "export",
        "postgres",
        "--root",
        str(lake_root),
        "--dsn",
        pg_dsn,
        "--intervals",
        "1h",
        "--format",
        "json",
    )
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert [(r["table"], r["series"], r["copied"]) for r in rows] == [("funding_rate", 2, 2)]
    assert rows[0]["rows"] > 0
    again = run_cli(*args[:-2])
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout


def test_failures_are_one_sentence(lake_root: Path, pg_dsn: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"postgresql://me:hunter2@127.0.0.1:{port}/db"
    line = assert_one_sentence(
        run_cli("export", "postgres", "--root", str(lake_root), "--dsn", dead), 1, "cannot connect"
    )
    assert "hunter2" not in line
    base = ("export", "postgres", "--root", str(lake_root), "--dsn", pg_dsn)
    assert_one_sentence(run_cli(*base, "--timescale", "maybe"), 2, "--timescale")
    assert_one_sentence(run_cli(*base, "--timescale", "on"), 2, "timescaledb")
    assert_one_sentence(run_cli(*base, "--datasets", "aggTrades"), 2, "aggTrades")
    assert_one_sentence(run_cli(*base, "--intervals", "1x"), 2, "unknown interval")
    assert_one_sentence(run_cli(*base, "--symbols", "BTCUSDT", "--all"), 2, "--all")
    assert_one_sentence(run_cli(*base, "--datasets", "klines"), 2, "holds no klines")
