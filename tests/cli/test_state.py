"""The global options (`--root`, `--config`, the endpoint URLs) work after the command as well as before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from binance_lake.cli.app import app
from binance_lake.core.vocabulary import Interval
from binance_lake.sim.server import SimServer
from tests.load.lakes import LakeBuilder, bars

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
runner = CliRunner()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lake")
    b = LakeBuilder(path)
    day = dt.date(2024, 1, 1)
    b.put("klines", "BTCUSDT", bars(T0, 24, Interval.H1), day, day, interval=Interval.H1)
    b.commit()
    return path


def _symbols_in_status(output: str) -> set[str]:
    return {row["symbol"] for row in json.loads(output)}


def test_root_after_the_command(lake: Path) -> None:
    result = runner.invoke(app, ["status", "--root", str(lake), "--format", "json"], env={})
    assert result.exit_code == 0, result.output
    assert _symbols_in_status(result.output) == {"BTCUSDT"}


def test_root_after_the_command_wins_over_root_before(lake: Path, tmp_path: Path) -> None:
    args = ["--root", str(tmp_path / "other"), "status", "--root", str(lake), "--format", "json"]
    result = runner.invoke(app, args, env={})
    assert result.exit_code == 0, result.output
    assert _symbols_in_status(result.output) == {"BTCUSDT"}
    before = runner.invoke(app, ["--root", str(lake), "status", "--format", "json"], env={})
    assert before.exit_code == 0 and _symbols_in_status(before.output) == {"BTCUSDT"}


def test_query_takes_root_after_a_subcommand_argument(lake: Path) -> None:
    result = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM klines", "--format", "csv", "--root", str(lake)], env={}
    )
    assert result.exit_code == 0, result.output
    assert result.output.split() == ['"n"', "24"]


def test_endpoint_options_after_a_catalog_command(sim_server: SimServer, tmp_path: Path) -> None:
    urls = {
        "--archive-url": sim_server.settings(tmp_path).archive_url,
        "--listing-url": sim_server.settings(tmp_path).listing_url,
        "--fapi-url": sim_server.settings(tmp_path).fapi_url,
    }
    refresh = ["catalog", "refresh", "--markets", "um", "--datasets", "fundingRate"]
    result = runner.invoke(
        app, [*refresh, "--root", str(tmp_path), *(x for kv in urls.items() for x in kv)], env={}
    )
    assert result.exit_code == 0, result.output
    symbols = runner.invoke(
        app, ["catalog", "symbols", "--markets", "um", "--format", "json", "--root", str(tmp_path)], env={}
    )
    assert symbols.exit_code == 0, symbols.output
    assert "BTCUSDT" in {row["symbol"] for row in json.loads(symbols.output)}


def test_command_help_lists_the_global_options_with_their_help() -> None:
    result = runner.invoke(app, ["status", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--root" in result.output and "BINANCE_LAKE_ROOT" in result.output
    assert "--fstream-url" in result.output and "BINANCE_LAKE_FSTREAM_URL" in result.output
