"""Live status files: throttled, atomic, and a dead process is never shown as running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from binance_lake.core.progress import Phase, Progress
from binance_lake.ops.live import LIVE_DIR, LiveStatus, read_live


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_publishing_is_throttled_and_the_end_is_always_written(tmp_path: Path) -> None:
    tick = Tick()
    live = LiveStatus(tmp_path, "sync", interval=1.0, clock=tick)
    progress = Progress(Phase.SYNC, live.sink())
    with live.running():
        tick.now = 1.0
        progress.expect(10)
        for _ in range(5):
            progress.add(done=1, bytes_done=100)  # within a second of the last write: not written
        (run,) = read_live(tmp_path)
        assert run.active and run.total == 10 and run.done == 0
        tick.now = 3.0
        progress.add(done=1, bytes_done=100)
        (run,) = read_live(tmp_path)
        assert (run.done, run.bytes_done, run.phase) == (6, 600, "sync")
        assert run.eta_s == pytest.approx(4 * 3.0 / 6)
    (run,) = read_live(tmp_path)
    assert not run.active and run.outcome == "ok" and run.ended_at is not None
    assert [p.name for p in (tmp_path / LIVE_DIR).iterdir()] == [f"sync-{os.getpid()}.json"]


def test_an_exception_or_interrupt_is_the_outcome(tmp_path: Path) -> None:
    live = LiveStatus(tmp_path, "update")
    with pytest.raises(KeyboardInterrupt), live.running():
        raise KeyboardInterrupt
    assert read_live(tmp_path)[0].outcome == "interrupted"


def test_a_run_whose_process_died_is_not_running(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    (tmp_path / LIVE_DIR).mkdir()
    state = {"kind": "sync", "pid": pid, "started_at": "x", "updated_at": "x", "done": 3}
    (tmp_path / LIVE_DIR / f"sync-{pid}.json").write_text(json.dumps(state))
    (tmp_path / LIVE_DIR / "half.json").write_text('{"kind": "sy')  # a torn file is skipped, not an error
    (run,) = read_live(tmp_path)
    assert run.done == 3 and not run.alive and not run.active and not run.writing
