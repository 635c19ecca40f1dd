"""`binance-lake update` through the real entry point: a JSON summary reaching the last closed bar, and bad
input in one sentence with exit code 2."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from binance_lake import Lake
from binance_lake.core.timerange import UTC
from binance_lake.sim.server import SimServer
from tests.cli.runner import assert_one_sentence, run_cli

NOW = dt.datetime(2026, 11, 18, 6, 0, tzinfo=UTC)


def test_update_prints_a_json_summary(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    server = make_sim(now=NOW)
    lake = Lake(tmp_path, settings=server.settings(tmp_path))
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-15", end="2026-11-16"
    ).ok
    result = run_cli("update", "--root", str(tmp_path), "--format", "json", env=server.settings_env())
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["now"] == NOW.isoformat()
    assert summary["rest"]["last_bar"] == {"um klines 1h BTCUSDT": "2026-11-18T05:00:00+00:00"}
    assert summary["provisional_days"] == {"um klines 1h BTCUSDT": ["2026-11-17", "2026-11-18"]}
    table = run_cli("update", "--root", str(tmp_path), env=server.settings_env())
    assert table.returncode == 0, table.stderr
    assert "um klines 1h BTCUSDT: last bar 2026-11-18T05:00:00+00:00" in table.stdout
    assert "provisional (REST) days: 2026-11-17, 2026-11-18" in table.stdout


def test_bad_input_is_one_sentence_with_exit_2(tmp_path: Path) -> None:
    assert_one_sentence(run_cli("update", "--root", str(tmp_path), "--days-back", "-2"), 2, "--days-back")
    assert_one_sentence(run_cli("update", "--root", str(tmp_path), "--max-gap-days", "3"), 2, "--fill-gaps")
    assert_one_sentence(
        run_cli("update", "--root", str(tmp_path), "--weight-share", "2"), 2, "--weight-share"
    )
    assert_one_sentence(run_cli("update", "--root", str(tmp_path), "--market", "xx"), 2, "xx")
    assert_one_sentence(run_cli("update", "--root", str(tmp_path)), 2, "sync")


def test_a_restricted_location_is_one_sentence_naming_the_setting(tmp_path: Path) -> None:
    from binance_lake.sim.rest_weights import RestLimits
    from binance_lake.sim.universe import Universe

    with SimServer(Universe.build("small", now=NOW), rest_limits=RestLimits(restricted=True)) as server:
        lake = Lake(tmp_path, settings=server.settings(tmp_path))
        assert lake.sync(
            datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-16", end="2026-11-16"
        ).ok
        result = run_cli("update", "--root", str(tmp_path), env=server.settings_env())
    assert_one_sentence(result, 1, "451", "BINANCE_LAKE_FAPI_URL")
