"""`binance-lake stream` through the real entry point: a run against the simulator, refusals in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binance_lake.sim.server import SimServer
from binance_lake.storage.database import WriterLock
from tests.cli.runner import assert_one_sentence, run_cli
from tests.realtime.truth import fast_universe


def test_a_run_prints_its_summary_and_logs_json_lines(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=60) as server:
        log = tmp_path / "log.jsonl"
        result = run_cli(
            "stream", "--symbols", "BTCUSDT", "--channels", "kline_1m,aggTrade,markPrice@1s", "--for", "3s",
            "--json-log", str(log), "--flush-interval", "0.3", "--root", str(tmp_path / "lake"),
            env=server.settings_env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["streams"] == 3 and summary["connections"] == 1 and summary["rows_flushed"] > 0
        assert summary["rows_compacted"] == summary["rows_flushed"]
        events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert events[0] == "started" and "connected" in events and events[-1] == "stopped"
        assert list((tmp_path / "lake" / "tables" / "markPrice").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--market", "spot", "--symbols", "BTCUSDT"], ["um and cm"]),
        (["--symbols", "BTCUSDT", "--channels", "depth"], ["unknown channel"]),
        ([], ["--symbols or --all"]),
        (["--symbols", "BTCUSDT", "--for", "soon"], ["not a duration"]),
        (["--symbols", "BTCUSDT", "--redis", "localhost"], ["redis://"]),
        (["--symbols", "@nope"], ["unknown symbol set @nope"]),
    ],
)
def test_bad_input_is_one_sentence_and_exit_code_2(tmp_path: Path, args: list[str], words: list[str]) -> None:
    assert_one_sentence(run_cli("stream", *args, "--root", str(tmp_path)), 2, *words)


def test_a_lake_another_process_writes_is_refused(tmp_path: Path) -> None:
    with WriterLock(tmp_path):
        result = run_cli("stream", "--symbols", "BTCUSDT", "--for", "1s", "--root", str(tmp_path))
    assert_one_sentence(result, 1, "another binance-lake process")
