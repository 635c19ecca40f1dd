"""`binance-lake catalog …` through the real entry point against the simulator: refresh twice (the second
changes nothing), probe, queries as CSV and JSON, bad input (one sentence, exit 2) and an unreachable endpoint."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from binance_lake.catalog import queries
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.sync import SyncRequest
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from tests.catalog.tiny import roster_file
from tests.cli.runner import assert_one_sentence, cli_env, read_only, run_cli
from tests.engine.test_sync_catalog_sim import D, listed_for


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "COLUMNS": "200",
            **env,
        },
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Lake]]:
    directory = tmp_path_factory.mktemp("cli")
    with SimServer(Universe.build(roster_file(directory))) as server:
        env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(directory / "lake")}
        first = run(env, "catalog", "refresh")
        assert first.returncode == 0, first.stderr
        assert "gone 0" in first.stdout and "exchangeInfo" in first.stdout
        yield env, Lake(settings=server.settings(directory / "lake"))


def test_second_refresh_reports_zero_changes(world: tuple[dict[str, str], Lake]) -> None:
    env, _ = world
    again = run(env, "catalog", "refresh", "--markets", "um,cm,spot")
    assert again.returncode == 0, again.stderr
    assert "new 0, changed 0, gone 0, revived 0" in again.stdout
    assert "exchangeInfo: 0 symbols changed" in again.stdout


def test_queries_as_csv_and_json(world: tuple[dict[str, str], Lake]) -> None:
    env, lake = world
    result = run(env, "catalog", "snapshot", "2026-10-20", "--markets", "um", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    with lake.database.connect() as c:
        expected = queries.snapshot(c, dt.date(2026, 10, 20), queries.Filters(market="um"))
    assert [(r["dataset"], r["interval"], r["symbol"]) for r in rows] == [
        (r["dataset"], r["interval"] or "", r["symbol"]) for r in expected.to_pylist()
    ]
    timeline = run(env, "catalog", "timeline", "solusdt", "--markets", "um", "--format", "json")
    assert timeline.returncode == 0, timeline.stderr
    (sol,) = json.loads(timeline.stdout)
    assert sol["symbol"] == "SOLUSDT" and sol["missing"] == "2026-11-17" and sol["missing_days"] == 1
    symbols = json.loads(run(env, "catalog", "symbols", "--markets", "um", "--format", "json").stdout)
    assert {s["symbol"]: s["delisted"] for s in symbols}["XEMUSDT"] is True
    for args in (("range", "2026-10-01", "2026-10-31"), ("earliest",), ("synchronal",)):
        shown = run(env, "catalog", *args, "--format", "json")
        assert shown.returncode == 0 and json.loads(shown.stdout), (args, shown.stderr)


def test_probe(world: tuple[dict[str, str], Lake]) -> None:
    env, _ = world
    result = run(env, "catalog", "probe", "--date", "2026-11-19", "--days-back", "3", "--markets", "um")
    assert result.returncode == 0, result.stderr
    # Series with a daily file in the last 30 days: BTCUSDT 1h and 1d, BTCUSDT_261225 1d, SOLUSDT 1h and the
    # just-delisted CVCUSDTSETTLED 1h (3 days it no longer has). SOLUSDT 1h 2026-11-17 is late (#150).
    assert "probed 15 files of 5 series" in result.stdout and "11 found, 4 missing" in result.stdout
    assert "new 0, changed 0, gone 0" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "snapshot", "2024-13-01"),
        ("catalog", "range", "2024-02-01", "2024-01-01"),
        ("catalog", "refresh", "--markets", "moon"),
        ("catalog", "refresh", "--datasets", "EOHSummary", "--markets", "um"),
        ("catalog", "snapshot", "2024-01-01", "--intervals", "7x"),
        ("catalog", "timeline", "BTC-USDT"),
        ("catalog", "probe", "--date", "yesterday"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    world: tuple[dict[str, str], Lake], args: tuple[str, ...]
) -> None:
    env, _ = world
    result = run(env, *args)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unreachable_listing_endpoint_names_the_url_and_setting(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/bucket"
    env = {"BINANCE_LAKE_ROOT": str(tmp_path), "BINANCE_LAKE_LISTING_URL": dead}
    result = run(env, "catalog", "refresh", "--markets", "um", "--datasets", "fundingRate")
    assert result.returncode == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert dead in message and "BINANCE_LAKE_LISTING_URL" in message and "Traceback" not in message


def test_earliest_and_timeline_say_when_only_part_of_the_history_was_listed(tmp_path: Path) -> None:
    """Issue 9 item 4: a sync's narrow listing is not printed as the symbol's first day."""
    with SimServer(Universe.build(roster_file(tmp_path))) as server:
        env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path / "lake")}
        request = SyncRequest(
            Market.UM, ("klines",), D(2026, 10, 10), D(2026, 10, 20), (Interval.H1,), ("SOLUSDT",)
        )
        listed_for(server, LakeDatabase(tmp_path / "lake"), request)
        earliest = run(env, "catalog", "earliest", "--markets", "um")
        assert earliest.returncode == 0, earliest.stderr
        assert (
            "um klines SOLUSDT: earliest known 2026-10-01 (listed from 2026-10-01 only: "
            "2026-10-01..2026-10-31; 2026-10-10..2026-10-20); run `binance-lake catalog refresh --markets um "
            "--datasets klines --symbols SOLUSDT` for the full history"
        ) in " ".join(earliest.stdout.split())
        rows = json.loads(run(env, "catalog", "earliest", "--markets", "um", "--format", "json").stdout)
        assert [(r["symbol"], r["listed_from"], r["complete"]) for r in rows] == [
            ("SOLUSDT", "2026-10-01", False)
        ]
        timeline = run(env, "catalog", "timeline", "SOLUSDT", "--markets", "um")
        assert timeline.returncode == 0, timeline.stderr
        assert (
            "um klines 1h: first_day 2026-10-01 and last_day 2026-10-31 are only the first and last known"
            in (" ".join(timeline.stdout.split()))
        )
        as_csv = list(
            csv.DictReader(io.StringIO(run(env, "catalog", "timeline", "SOLUSDT", "--format", "csv").stdout))
        )
        assert [(r["first_day"], r["listed_from"], r["complete"]) for r in as_csv] == [
            ("2026-10-01", "2026-10-01", "false")
        ]


def test_catalog_symbols_reads_a_read_only_lake(world: tuple[dict[str, str], Lake], tmp_path: Path) -> None:
    env, lake = world
    copy = tmp_path / "lake"
    shutil.copytree(lake.root, copy)
    with read_only(copy):
        result = run_cli(
            "catalog",
            "symbols",
            "--markets",
            "um",
            "--format",
            "json",
            env={**env, "BINANCE_LAKE_ROOT": str(copy)},
        )
    assert result.returncode == 0, result.stderr
    assert "XEMUSDT" in {s["symbol"] for s in json.loads(result.stdout)}


def test_timeline_of_an_unknown_symbol_says_so(world: tuple[dict[str, str], Lake]) -> None:
    env, _ = world
    assert_one_sentence(run_cli("catalog", "timeline", "FOOBAR", env=env), 2, "unknown symbol FOOBAR")
    # Known, but not in the chosen market: the same sentence, naming that market.
    assert_one_sentence(
        run_cli("catalog", "timeline", "SOLUSDT", "--markets", "cm", env=env), 2, "cm archive"
    )


def test_catalog_queries_on_a_missing_lake_say_so_and_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli("catalog", "symbols", env={"BINANCE_LAKE_ROOT": str(missing)})
    assert_one_sentence(result, 2, f"no lake at {missing}")
    assert not missing.exists()


def test_probe_days_back_is_bounded(world: tuple[dict[str, str], Lake]) -> None:
    env, _ = world
    result = run_cli("catalog", "probe", "--date", "2026-11-19", "--days-back", "100000", env=env)
    assert_one_sentence(result, 2, "--days-back", "3660")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--archive-url", "ftp://x"), ("--listing-url", "file:///etc"), ("--fstream-url", "https://x")],
)
def test_endpoint_urls_with_the_wrong_scheme_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    result = run_cli(flag, value, "catalog", "symbols", env={"BINANCE_LAKE_ROOT": str(tmp_path)})
    assert_one_sentence(result, 2, flag, repr(value))


def test_ctrl_c_during_a_stalled_probe_ends_cleanly(
    world: tuple[dict[str, str], Lake], make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    _, lake = world
    copy = tmp_path / "lake"
    shutil.copytree(lake.root, copy)
    stalled = make_sim(faults="stall=1.0,stall_seconds=60")
    args = ["catalog", "probe", "--date", "2026-11-19", "--days-back", "3660", "--markets", "um"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env({**stalled.settings_env(), "BINANCE_LAKE_ROOT": str(copy)}),
    )
    try:
        deadline = time.monotonic() + 60
        while stalled.stats.total_requests == 0:  # the probe's HEADs are in flight (and stalled)
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (out, err)
    assert err.strip() == "interrupted; everything already stored is kept"
    assert "never awaited" not in err and "Traceback" not in err
