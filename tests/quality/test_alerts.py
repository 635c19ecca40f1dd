"""`[alerts]` thresholds: parsed in one sentence each, judged on facts, and through `Lake.health` and
`binance-lake health --json` on a simulator lake (freshness, failed job runs, stream silence)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import UTC
from binance_lake.lake import Lake
from binance_lake.ops.live import LiveStatus
from binance_lake.quality.alerts import AlertFacts, Severity, Threshold, evaluate, parse_alerts
from binance_lake.storage.job_runs import Outcome, finish_run, start_run
from tests.cli.runner import run_cli

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)


def facts(**values: Any) -> AlertFacts:
    base: dict[str, Any] = {
        "lags": [],
        "failed_files": 0,
        "failed_streaks": {},
        "rest_weight_share": None,
        "stream_silence": None,
    }
    return AlertFacts(**{**base, **values})


def test_the_table_with_default_and_chosen_severities() -> None:
    thresholds = parse_alerts(
        {
            "max_freshness_lag": {"klines": "36h", "*": "3d"},
            "max_failed_files": 0,
            "max_rest_weight_share": 0.8,
            "max_stream_silence": "90s",
            "severity": {"max_stream_silence": "fail", "max_failed_files": "degrade"},
        }
    )
    assert thresholds == (
        Threshold(
            "max_freshness_lag",
            {"klines": dt.timedelta(hours=36), "*": dt.timedelta(days=3)},
            Severity.DEGRADE,
        ),
        Threshold("max_failed_files", 0.0, Severity.DEGRADE),
        Threshold("max_rest_weight_share", 0.8, Severity.DEGRADE),
        Threshold("max_stream_silence", dt.timedelta(seconds=90), Severity.FAIL),
    )
    assert parse_alerts({"max_failed_job_runs": 2})[0].severity is Severity.FAIL


@pytest.mark.parametrize(
    ("table", "sentence"),
    [
        ({"max_lag": "1d"}, "unknown threshold 'max_lag' in [alerts]"),
        ({"max_failed_files": -1}, "max_failed_files in [alerts] must be a whole number"),
        ({"max_failed_files": 1.5}, "must be a whole number"),
        ({"max_rest_weight_share": 80}, "must be a share between 0 and 1"),
        ({"max_stream_silence": 90}, 'must be an age such as "36h"'),
        ({"max_freshness_lag": {"klines": "soon"}}, "max_freshness_lag.klines in [alerts] must be an age"),
        ({"severity": {"max_failed_files": "panic"}}, '"fail" or "degrade"'),
    ],
)
def test_bad_tables_are_one_sentence(table: dict[str, Any], sentence: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_alerts(table)
    assert sentence in str(raised.value)


@given(limit=st.integers(0, 20), value=st.integers(0, 40))
def test_a_count_is_breached_exactly_when_it_exceeds_its_limit(limit: int, value: int) -> None:
    (files, runs) = evaluate(
        parse_alerts({"max_failed_files": limit, "max_failed_job_runs": limit}),
        facts(failed_files=value, failed_streaks={"update": value, "probe": 0}),
    )
    assert files.breached == runs.breached == (value > limit)
    assert files.value == runs.value == value


def test_each_threshold_judged_on_its_facts() -> None:
    thresholds = parse_alerts(
        {
            "max_freshness_lag": {"klines": "1d", "*": "3d"},
            "max_rest_weight_share": 0.5,
            "max_stream_silence": "60s",
        }
    )
    day = 86400.0
    lags = [("klines", "um/klines/1h/BTCUSDT", 1.5 * day), ("fundingRate", "um/fundingRate/BTCUSDT", 2 * day)]
    lag, weight, silence = evaluate(thresholds, facts(lags=lags, rest_weight_share=0.7, stream_silence=61))
    assert lag.breached and "1 series behind" in lag.message and "um/klines/1h/BTCUSDT" in lag.message
    assert weight.breached and "70%" in weight.message
    assert silence.breached and silence.value == 61
    lag, weight, silence = evaluate(thresholds, facts(lags=lags[1:], rest_weight_share=0.2, stream_silence=5))
    assert not (lag.breached or weight.breached or silence.breached)
    (none_running,) = evaluate(parse_alerts({"max_stream_silence": "60s"}), facts())
    assert none_running.breached and none_running.message == "max_stream_silence: no stream is running"


def _fresh_lake(make_sim: Any, root: Path, alerts: dict[str, Any]) -> Lake:
    server = make_sim(now=NOW)
    settings = dataclasses.replace(server.settings(root), alerts=MappingProxyType(alerts))
    lake = Lake(settings=settings)
    assert lake.sync(
        datasets="klines", intervals="1d", symbols="BTCUSDT", start="2026-11-15", end="2026-11-19"
    ).ok
    return lake


def test_health_degrades_or_fails_on_a_breach_and_names_it(make_sim: Any, tmp_path: Path) -> None:
    lake = _fresh_lake(make_sim, tmp_path / "lake", {"max_freshness_lag": "18h", "max_failed_job_runs": 1})
    old = dt.timedelta(days=3650)  # --max-age out of the way: only the thresholds judge
    # The newest day (2026-11-19) ended 12 h before NOW: within 18 h.
    health = lake.health(now=NOW, max_age=old)
    assert health.code == 0 and health.details["breached"] == []
    assert len(health.details["alerts"]) == 2
    # 7 h later it is 19 h behind: a degrade by default, named in the summary.
    health = lake.health(now=NOW + dt.timedelta(hours=7), max_age=old)
    assert health.code == 1 and health.details["breached"] == ["max_freshness_lag"]
    # Two update runs failed in a row: over max_failed_job_runs = 1, a fail.
    for _ in range(2):
        run = start_run(lake.database, "update", NOW, os.getpid())
        finish_run(lake.database, run, Outcome.FAILED, NOW, {"error": "the archive answered 503"})
    health = lake.health(now=NOW, max_age=old)
    assert health.code == 2 and health.details["breached"] == ["max_failed_job_runs"]
    assert "max_failed_job_runs: 2 failed run(s) in a row of job update (limit 1)" in health.reasons
    run = start_run(lake.database, "update", NOW, os.getpid())
    finish_run(lake.database, run, Outcome.OK, NOW, {})
    assert lake.health(now=NOW, max_age=old).details["breached"] == []  # the streak ended


def test_stream_silence_from_the_streams_live_status(make_sim: Any, tmp_path: Path) -> None:
    lake = _fresh_lake(make_sim, tmp_path / "lake", {"max_stream_silence": "60s"})
    old = dt.timedelta(days=3650)
    now = dt.datetime.now(dt.UTC)
    assert lake.health(max_age=old).details["breached"] == ["max_stream_silence"]  # none runs
    # A stream run (this process) whose newest event is 10 s old, then 2 minutes old.
    status = LiveStatus(lake.root, "stream")
    status.publish(force=True, last_event_at=(now - dt.timedelta(seconds=10)).isoformat())
    health = lake.health(max_age=old, now=now)
    assert health.code == 0 and health.details["breached"] == []
    status.publish(force=True, last_event_at=(now - dt.timedelta(minutes=2)).isoformat())
    health = lake.health(max_age=old, now=now)
    assert health.code == 1 and health.details["breached"] == ["max_stream_silence"]
    status.end("ok")  # an ended run is no running stream
    assert "no stream is running" in lake.health(max_age=old).line()


def test_health_json_on_the_command_line(make_sim: Any, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _fresh_lake(make_sim, root, {})
    config = tmp_path / "binance-lake.toml"
    # The real clock is long after the simulator's 2026-11-19: every series is far behind 1 h.
    config.write_text(
        '[alerts]\nmax_freshness_lag = "1h"\nmax_failed_files = 0\n[alerts.severity]\nmax_freshness_lag = "fail"\n'
    )
    args = ("health", "--root", str(root), "--config", str(config), "--max-age", "3650d", "--json")
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    shown = json.loads(result.stdout)
    assert shown["breached"] == ["max_freshness_lag"]
    states = {a["alert"]: a for a in shown["alerts"]}
    assert (
        states["max_freshness_lag"]["severity"] == "fail"
        and states["max_freshness_lag"]["limit_value"] == 3600
    )
    assert states["max_failed_files"] == {**states["max_failed_files"], "breached": False, "value": 0}
    config.write_text("[alerts]\nmax_failed_files = -2\n")
    bad = run_cli(*args)
    assert bad.returncode == 2 and "max_failed_files in [alerts] must be a whole number" in bad.stderr
