"""`binance-lake stream` through the real entry point: a run against the simulator, refusals in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binance_lake.sim.server import SimServer
from tests.cli.runner import assert_one_sentence, run_cli
from tests.pg_server import pg_dsn, pg_server
from tests.realtime.truth import fast_universe

__all__ = ["pg_dsn", "pg_server"]


def test_a_run_prints_its_summary_and_logs_json_lines(tmp_path: Path) -> None:
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=60) as server:
        log = tmp_path / "log.jsonl"
        result = run_cli(
            "stream", "--symbols", "BTCUSDT", "--channels", "kline_1m,aggTrade,markPrice@1s", "--for", "3s",
            "--json-log", str(log), "--flush-interval", "0.3", "--root", str(tmp_path / "lake"), "--format", "json",
            env=server.settings_env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["streams"] == 3 and summary["connections"] == 1 and summary["rows_flushed"] > 0
        assert summary["rows_compacted"] == summary["rows_flushed"]
        events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert events[0] == "started" and "connected" in events and events[-1] == "stopped"
        assert list((tmp_path / "lake" / "tables" / "markPrice").rglob("*.parquet"))


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_postgres_away_from_the_start_the_stream_still_stores_and_says_so_once(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=600) as server:
        log = tmp_path / "log.jsonl"
        result = run_cli(
            "stream", "--symbols", "BTCUSDT", "--channels", "kline_1m", "--for", "3s", "--json-log", str(log),
            "--flush-interval", "0.3", "--root", str(tmp_path / "lake"), "--format", "json",
            "--postgres", f"postgresql://postgres@127.0.0.1:{_closed_port()}/none", env=server.settings_env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["rows_compacted"] == summary["rows_flushed"] > 0
        assert summary["postgres"].startswith("DOWN (keeping")
        events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert events.count("postgres_down") == 1 and "postgres_unwritten" in events


def test_a_run_with_postgres_writes_the_bars(tmp_path: Path, pg_dsn: str) -> None:
    import psycopg

    with SimServer(fast_universe(("BTCUSDT",)), stream_speed=600) as server:
        result = run_cli(
            "stream", "--symbols", "BTCUSDT", "--channels", "kline_1m", "--for", "2s", "--flush-interval", "0.3",
            "--root", str(tmp_path / "lake"), "--format", "json", "--dsn", pg_dsn, env=server.settings_env(),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["postgres"] == "up"
    with psycopg.connect(pg_dsn) as connection:
        held = connection.execute(b"SELECT count(*) FROM ohlcv WHERE source = 'stream'").fetchone()
    assert held is not None and held[0] == summary["rows_flushed"] > 0


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


def test_the_live_view_shows_connections_rates_ages_and_counters() -> None:
    from rich.console import Console

    from binance_lake.cli.stream_cmd import render_stats
    from binance_lake.realtime.collector import CollectorStats
    from binance_lake.realtime.connection import ConnectionState

    stats = CollectorStats(
        session="s", started=0.0, streams=3, repaired_gaps=2, repaired_rows=17, rows_flushed=40
    )
    stats.connections.append(
        ConnectionState(0, ["a@aggTrade", "b@aggTrade"], connected=True, reconnects=1, messages=9)
    )
    stats.connections.append(
        ConnectionState(1, ["c@aggTrade"], reconnects=4, last_reason="silent for 30 s (watchdog)")
    )
    stats.last_event.update({"a@aggTrade": 99.0, "c@aggTrade": 80.0})
    stats._recent.extend([98.0, 99.0, 99.5])
    console = Console(record=True, width=200)
    console.print(render_stats(stats, now=100.0))
    text = console.export_text()
    assert "1/2 connections" in text and "3 streams" in text and "5 reconnects" in text
    assert "2 gaps repaired (17 rows)" in text and "40 rows flushed" in text
    assert "watchdog" in text and "c@aggTrade" in text and "20.0 s" in text
    assert text.index("c@aggTrade  ") < text.index("a@aggTrade  "), "the stalest stream first"
