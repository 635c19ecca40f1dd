"""`PidFile`: one daemon per lake, and the status peek (`running_pid`'s instant LOCK_SH) never refuses a
daemon starting at that moment."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from binance_lake.ops.pidfile import PID_NAME, DaemonRunning, PidFile, running_pid


def _peek_for(path: Path, seconds: float) -> threading.Thread:
    """What `daemon status` does, held longer: a shared lock on the (empty) pid file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    taken = threading.Event()

    def peek() -> None:
        with path.open("r") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            taken.set()
            threading.Event().wait(seconds)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    thread = threading.Thread(target=peek)
    thread.start()
    assert taken.wait(5)
    return thread


def test_a_status_peek_at_start_is_waited_out(tmp_path: Path) -> None:
    peek = _peek_for(tmp_path / PID_NAME, 0.2)
    try:
        with PidFile(tmp_path, wait=5.0):
            assert running_pid(tmp_path) == os.getpid()
    finally:
        peek.join()
    assert running_pid(tmp_path) is None


def test_a_lock_naming_no_daemon_is_refused_after_the_wait(tmp_path: Path) -> None:
    peek = _peek_for(tmp_path / PID_NAME, 0.3)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    try:
        with pytest.raises(DaemonRunning, match="a daemon \\(pid unknown\\) already runs"):
            PidFile(tmp_path, wait=0.1, clock=lambda: now[0], sleep=sleep).acquire()
    finally:
        peek.join()
    assert 4 <= len(slept) <= 6  # retried every 20 ms for the 0.1 s asked


def test_a_running_daemon_is_refused_at_once(tmp_path: Path) -> None:
    slept: list[float] = []
    with PidFile(tmp_path):
        second = PidFile(tmp_path, wait=30.0, sleep=slept.append)
        with pytest.raises(DaemonRunning, match=f"a daemon \\(pid {os.getpid()}\\) already runs"):
            second.acquire()
    assert slept == []
    with PidFile(tmp_path):  # released: the next daemon takes it
        assert running_pid(tmp_path) == os.getpid()
