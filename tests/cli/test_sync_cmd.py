"""`binance-lake sync` through the real entry point against the simulator: JSON summary, dry run, the
quarantined file named with exit code 1, a second writer refused, bad input in one sentence with exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.sync import SyncRequest
from binance_lake.sim import placement
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import DATABASE_NAME, LakeDatabase, WriterLock
from tests.cli.runner import assert_one_sentence, run_cli
from tests.engine.test_sync_catalog_sim import D, listed_for


def run(
    server: SimServer,
    root: Path,
    *args: str,
    env_extra: dict[str, str] | None = None,
    stall_timeout: str | None = None,
) -> subprocess.CompletedProcess[str]:
    settings = ("--stall-timeout", stall_timeout) if stall_timeout is not None else ()
    return subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", *settings, "sync", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "COLUMNS": "200",
            # The child imports the same source tree as the tests (a worktree's, not the installed one's).
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            **server.settings_env(),
            "BINANCE_LAKE_ROOT": str(root),
            **(env_extra or {}),
        },
    )


BTC_FEW_DAYS = ("--datasets", "klines,fundingRate", "--intervals", "1h", "--symbols", "btcusdt")


def test_json_summary_of_a_sync(sim_server: SimServer, tmp_path: Path) -> None:
    result = run(
        sim_server,
        tmp_path,
        *BTC_FEW_DAYS,
        "--start",
        "2026-11-05",
        "--end",
        "2026-11-07",
        "--format",
        "json",
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
            sim_server,
            tmp_path,
            *BTC_FEW_DAYS,
            "--start",
            "2026-11-05",
            "--end",
            "2026-11-07",
            "--format",
            "json",
        ).stdout
    )
    assert again["planned_files"] == 0 and again["held_files"] == 3


def test_dry_run_prints_files_and_bytes_and_writes_nothing(sim_server: SimServer, tmp_path: Path) -> None:
    days = ("--start", "2026-10-01", "--end", "2026-11-02", "--dry-run")
    # The plan comes from the catalog as it is (issue 9 item 16): never listed, so nothing known, and said.
    fresh = run(sim_server, tmp_path, *BTC_FEW_DAYS, *days)
    assert fresh.returncode == 0, fresh.stderr
    assert "plan: 0 files" in fresh.stdout and "stale:" in fresh.stdout
    assert (
        "klines 1h: 2026-10-01..2026-11-02" in fresh.stdout
        and "fundingRate: 2026-10-01..2026-11-02" in fresh.stdout
    )
    assert (
        "binance-lake catalog refresh --markets um --datasets klines,fundingRate --intervals 1h"
        in fresh.stdout
    )
    assert not (tmp_path / DATABASE_NAME).exists()
    request = SyncRequest(
        Market.UM, ("klines", "fundingRate"), D(2026, 10, 1), D(2026, 11, 2), (Interval.H1,), ("BTCUSDT",)
    )
    listed_for(server=sim_server, database=LakeDatabase(tmp_path), request=request)
    catalog = (tmp_path / DATABASE_NAME).read_bytes()
    result = run(sim_server, tmp_path, *BTC_FEW_DAYS, *days)
    assert result.returncode == 0, result.stderr
    assert (
        "plan: 4 files" in result.stdout and " MB to fetch" in result.stdout and "stale" not in result.stdout
    )
    assert "BTCUSDT-1h-2026-10.zip" in result.stdout and "BTCUSDT-1h-2026-11-02.zip" in result.stdout
    assert "fundingRate-2026-10.zip" in result.stdout
    assert not (tmp_path / TABLES_DIR).exists() and (tmp_path / DATABASE_NAME).read_bytes() == catalog


def test_a_quarantined_file_is_named_and_the_exit_code_is_1(sim_server: SimServer, tmp_path: Path) -> None:
    (bad,) = placement.WRONG_CHECKSUMS
    day = bad.period.isoformat()
    args = ("--datasets", bad.dataset, "--symbols", bad.symbol, "--start", day, "--end", day)
    result = run(sim_server, tmp_path, *args)
    assert result.returncode == 1
    assert "quarantined" in result.stdout and bad.key in result.stdout
    as_json = run(sim_server, tmp_path, *args, "--format", "json")
    # Not fetched again, and not a failure of this run: it is listed among the skipped quarantined files.
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["quarantined_skipped"] == [bad.key]
    # The summary names it as quarantined, never as missing upstream; --retry-quarantined checks it again.
    again = run(sim_server, tmp_path, *args)
    assert again.returncode == 0 and "missing upstream" not in again.stdout
    assert (
        f"quarantined (skipped) {bad.key}: its bytes failed verification twice" in again.stdout
        and "--retry-quarantined" in again.stdout
    )
    before = sim_server.stats.per_url[f"GET /{bad.key}"]
    retried = run(sim_server, tmp_path, *args, "--retry-quarantined", "--format", "json")
    assert retried.returncode == 1 and sim_server.stats.per_url[f"GET /{bad.key}"] == before + 1
    assert [f["key"] for f in json.loads(retried.stdout)["quarantined"]] == [bad.key]


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
    september = SyncRequest(
        Market.UM, ("fundingRate",), D(2026, 9, 1), D(2026, 9, 30), symbols=("BTCUSDT", "ETHUSDT")
    )
    listed_for(sim_server, LakeDatabase(tmp_path / "lake"), september)  # a dry run plans from the catalog
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
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
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


def test_each_problem_is_counted_once_and_the_lines_agree(sim_server: SimServer, tmp_path: Path) -> None:
    # The summary said "failed 10 / quarantined 0" and then listed 9 lines starting "quarantined".
    (bad,) = placement.WRONG_CHECKSUMS  # a permanent failure: quarantined
    day = bad.period.isoformat()
    (tmp_path / TABLES_DIR).mkdir(parents=True)
    (tmp_path / TABLES_DIR / "klines").write_text(
        "not a directory"
    )  # a transient one: klines cannot be stored
    args = ("--datasets", f"klines,{bad.dataset}", "--intervals", "1h", "--symbols", bad.symbol)
    args += ("--start", day, "--end", day)

    def counts(text: str) -> dict[str, int]:
        found = re.findall(
            r"^│ (failed \(next sync retries\)|quarantined now|quarantined \(skipped\)) +│ (\d+) +│$",
            text,
            re.M,
        )
        return {kind: int(n) for kind, n in found}

    def listed(text: str) -> dict[str, list[str]]:
        """The keys named on the lines below the table, per kind ("KIND KEY" or "KIND KEY: error")."""
        kinds = ("failed", "quarantined now", "quarantined (skipped)")
        return {kind: re.findall(rf"^{re.escape(kind)} (\S+?)(?::|$)", text, re.M) for kind in kinds}

    first = run(sim_server, tmp_path, *args)
    assert first.returncode == 1, first.stderr
    assert counts(first.stdout) == {
        "failed (next sync retries)": 1,
        "quarantined now": 1,
        "quarantined (skipped)": 0,
    }, first.stdout
    lines = listed(first.stdout)
    assert lines["quarantined now"] == [bad.key] and lines["quarantined (skipped)"] == []
    assert len(lines["failed"]) == 1 and "/klines/" in lines["failed"][0], first.stdout

    second = run(sim_server, tmp_path, *args, "--format", "json")
    assert second.returncode == 1
    summary = json.loads(second.stdout)
    assert [f["key"] for f in summary["failed"]] == lines["failed"]
    assert summary["quarantined"] == [] and summary["quarantined_skipped"] == [bad.key]

    third = run(sim_server, tmp_path, *args)
    assert counts(third.stdout) == {
        "failed (next sync retries)": 1,
        "quarantined now": 0,
        "quarantined (skipped)": 1,
    }, third.stdout
    assert listed(third.stdout) == {
        "failed": lines["failed"],
        "quarantined now": [],
        "quarantined (skipped)": [bad.key],
    }

    (tmp_path / TABLES_DIR / "klines").unlink()
    fourth = run(sim_server, tmp_path, *args, "--format", "json")
    summary = json.loads(fourth.stdout)
    assert summary["failed"] == summary["quarantined"] == [] and summary["quarantined_skipped"] == [bad.key]


def test_outside_a_terminal_progress_lines_go_to_stderr(sim_server: SimServer, tmp_path: Path) -> None:
    # Outside a terminal nothing at all was printed for minutes.
    fast = {"BINANCE_LAKE_PROGRESS_SECONDS": "0.05"}
    args = (*BTC_FEW_DAYS, "--start", "2026-11-05", "--end", "2026-11-07")
    text = run(sim_server, tmp_path / "a", *args, env_extra=fast)
    assert text.returncode == 0, text.stderr
    lines = text.stderr.splitlines()
    assert any(re.match(r"listing: \d+/\d+ directories, \d+ pages, [\d,]+ keys, \d+ s$", x) for x in lines), (
        lines
    )
    assert re.match(r"sync: 3/3 files, [\d.]+ kB of [\d.]+ kB, ", lines[-1]), lines
    assert "files ingested" in text.stdout and "sync:" not in text.stdout

    as_json = run(sim_server, tmp_path / "b", *args, "--format", "json", env_extra=fast)
    summary = json.loads(as_json.stdout)  # stdout holds the summary alone
    events = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert {e["phase"] for e in events} == {"listing", "sync"}
    last = events[-1]
    assert last["files_done"] == last["files_total"] == 3
    assert last["bytes_done"] == last["bytes_total"] == summary["planned_bytes"] > 0


def test_a_bad_progress_interval_is_a_usage_error(sim_server: SimServer, tmp_path: Path) -> None:
    args = (*BTC_FEW_DAYS, "--start", "2026-11-05", "--end", "2026-11-05")
    result = run(sim_server, tmp_path, *args, env_extra={"BINANCE_LAKE_PROGRESS_SECONDS": "often"})
    assert result.returncode == 2 and "BINANCE_LAKE_PROGRESS_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_hung_server_ends_the_sync_with_one_sentence_and_exit_1(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    hung = make_sim(faults="stall=1,stall_seconds=60@*/metrics/*")
    args = ("--datasets", "metrics", "--symbols", "BTCUSDT", "--start", "2024-02-01", "--end", "2024-02-05")
    started = time.monotonic()
    result = run(hung, tmp_path, *args, stall_timeout="1.5")
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stderr
    # Progress lines ("listing: …", "sync: …") go to stderr too; the error is one sentence on one line.
    errors = [line for line in result.stderr.splitlines() if not line.startswith(("listing:", "sync:"))]
    assert errors == [
        f"error: gave up: no answer from 127.0.0.1:{hung.port} for 1.5 s (set stall_timeout / "
        "--stall-timeout); state is recorded, run the same command again to resume"
    ]
    bad = run(hung, tmp_path, *args, stall_timeout="soon")
    assert bad.returncode == 2 and "--stall-timeout" in bad.stderr  # typer refuses a non-number


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
