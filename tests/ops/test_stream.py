"""The daemon's supervised stream: `[stream]` checked into the command's arguments, the restart backoff, and
the supervisor restarting, refusing and stopping a real child process (tests/cli/test_daemon_cmd.py runs
the real `binance-lake stream` against the simulator)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.ops.stream import StreamConfig, StreamSupervisor, backoff, parse_stream


def test_the_table_becomes_the_commands_options() -> None:
    config = parse_stream(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "channels": "kline_1m,aggTrade",
            "all-liquidations": True,
            "all": False,
            "flush_interval": 0.5,
            "redis": "redis://127.0.0.1:6379/0",
            "restart_min": 2,
            "restart_max": 60,
        }
    )
    assert config == StreamConfig(
        (
            "--symbols", "BTCUSDT,ETHUSDT", "--channels", "kline_1m,aggTrade", "--all-liquidations",
            "--flush-interval", "0.5", "--redis", "redis://127.0.0.1:6379/0",
        ),
        2.0,
        60.0,
    )  # fmt: skip
    assert parse_stream({}) is None


@pytest.mark.parametrize(
    ("table", "sentence"),
    [
        ({"symbol": "BTCUSDT"}, "unknown key 'symbol' in [stream]"),
        ({"channels": "aggTrade"}, "[stream] needs symbols"),
        ({"symbols": "BTCUSDT", "all": "yes"}, "all in [stream] must be true or false"),
        ({"symbols": 3}, "symbols in [stream] must be text"),
        ({"symbols": "BTCUSDT", "flush_interval": "2s"}, "must be a number of seconds"),
        ({"symbols": "BTCUSDT", "restart_min": 0}, "restart_min in [stream] must be a positive number"),
        ({"symbols": "BTCUSDT", "restart_min": 10, "restart_max": 5}, "must not exceed restart_max"),
    ],
)
def test_bad_tables_are_one_sentence(table: dict[str, Any], sentence: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_stream(table)
    assert sentence in str(raised.value)


@given(
    failures=st.integers(1, 40),
    low=st.floats(0.01, 10),
    spread=st.floats(1, 1000),
    r=st.floats(0, 1),
)
def test_backoff_doubles_to_its_cap_with_jitter_in_the_upper_half(
    failures: int, low: float, spread: float, r: float
) -> None:
    high = low * spread
    step = min(high, low * 2 ** (failures - 1))
    delay = backoff(failures, low, high, lambda: r)
    assert step / 2 - 1e-9 <= delay <= step + 1e-9
    assert backoff(failures + 1, low, high, lambda: 1.0) >= backoff(failures, low, high, lambda: 1.0)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def __call__(self, event: str, **fields: Any) -> None:
        with self.changed:
            self.events.append((event, fields))
            self.changed.notify_all()

    def wait_for(self, event: str, count: int = 1, timeout: float = 30) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: sum(e == event for e, _ in self.events) >= count, timeout)
        assert ok, f"no {count} × {event} in {self.events}"


def _supervisor(tmp_path: Path, code: str, log: Recorder, **config: Any) -> StreamSupervisor:
    restarts: list[int] = []
    supervisor = StreamSupervisor(
        StreamConfig(("--symbols", "X"), **config),
        tmp_path,
        {},
        log=log,
        on_restart=lambda: restarts.append(1),
        command=(sys.executable, "-c", code),
        rand=lambda: 0.0,
    )
    return supervisor


def test_a_dying_child_is_restarted_with_backoff_and_stopped_cleanly(tmp_path: Path) -> None:
    log = Recorder()
    supervisor = _supervisor(tmp_path, "import sys; sys.exit(3)", log, restart_min=0.05, restart_max=0.2)
    supervisor.start()
    log.wait_for("stream-exit", 4)
    supervisor.stop(timeout=5)
    exits = [fields for event, fields in log.events if event == "stream-exit"]
    assert all(e["exit"] == 3 for e in exits)
    # Half of each step (the jitter drawn as 0): 0.025, 0.05, 0.1, then the cap's half.
    assert [e["restart_in"] for e in exits[:4]] == [0.025, 0.05, 0.1, 0.1]
    assert supervisor.state.restarts >= 3 and supervisor.state.state == "stopped"


def test_stop_interrupts_the_child_which_exits_0(tmp_path: Path) -> None:
    log = Recorder()
    # Like the collector: Ctrl-C (SIGINT) is its clean stop.
    code = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    pass\n"
    supervisor = _supervisor(tmp_path, code, log)
    supervisor.start()
    log.wait_for("stream-start")
    time.sleep(0.3)  # let the child reach its sleep (its KeyboardInterrupt handler)
    pid = supervisor.pid
    assert pid is not None and supervisor.state.state == "running"
    assert supervisor.stop(timeout=10) == 0
    assert supervisor.pid is None and not [e for e, _ in log.events if e == "stream-exit"]


def test_a_child_refusing_its_options_is_not_restarted(tmp_path: Path) -> None:
    log = Recorder()
    supervisor = _supervisor(tmp_path, "import sys; sys.exit(2)", log, restart_min=0.01)
    supervisor.start()
    log.wait_for("stream-refused")
    time.sleep(0.2)
    assert [e for e, _ in log.events].count("stream-start") == 1
    assert supervisor.state.state == "refused"
    supervisor.stop()


def test_pause_stops_the_child_until_resume(tmp_path: Path) -> None:
    log = Recorder()
    code = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    pass\n"
    supervisor = _supervisor(tmp_path, code, log, restart_min=0.01)
    supervisor.start()
    log.wait_for("stream-start")
    time.sleep(0.3)
    supervisor.pause(timeout=10)
    assert supervisor.pid is None
    time.sleep(0.3)
    assert [e for e, _ in log.events].count("stream-start") == 1  # not restarted while paused
    supervisor.resume()
    log.wait_for("stream-start", 2)
    supervisor.stop(timeout=10)


def test_a_child_refused_the_writer_lock_restarts_when_the_daemons_job_ends(tmp_path: Path) -> None:
    log = Recorder()
    # The child fails as `binance-lake stream` does while a daemon job holds the writer lock.
    code = "import sys; print('error: another binance-lake process (pid 1) is writing the lake at X'); sys.exit(1)"
    supervisor = _supervisor(tmp_path, code, log, restart_min=0.01, restart_max=100)
    supervisor.job_started()
    supervisor.start()
    log.wait_for("stream-exit")
    time.sleep(0.5)
    assert [e for e, _ in log.events].count("stream-start") == 1  # waits for the job, no restart yet
    assert supervisor.state.state == "waiting"
    supervisor.job_ended()
    log.wait_for("stream-start", 2, timeout=10)
    supervisor.stop(timeout=5)
    exits = [fields for event, fields in log.events if event == "stream-exit"]
    # Never a growing delay: each refusal waits restart_min (0.01 s), not 0.01 · 2^n.
    assert all(e == {"exit": 1, "restart_in": None, "reason": "the writer lock was taken"} for e in exits)
