"""Test helpers for syncs run as real processes (the kill -9 tests): start `binance-lake sync` in a child with
the simulator's settings, and wait for a moment of its run while it is still running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from binance_lake.sim.server import SimServer

_STARTED: dict[int, float] = {}


def sync_process(
    server: SimServer, request: Mapping[str, str], env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """`binance-lake sync --format json` of `request` against the simulator, with `env` (the root) added."""
    args = [f"--{name}={value}" for name, value in request.items()]
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from binance_lake.cli.app import main; main()",
            "sync",
            *args,
            "--format",
            "json",
        ],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),  # this tree's source (tests/conftest.py)
            **server.settings_env(),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED[process.pid] = time.monotonic()
    return process


def started(process: subprocess.Popen[str]) -> float:
    """When `sync_process` started it (`time.monotonic`)."""
    return _STARTED[process.pid]


def wait_until(
    process: subprocess.Popen[str], reached: Callable[[], bool], *, timeout: float, poll: float = 0.02
) -> bool:
    """Wait until `reached()` while the process runs (at most `timeout` s); whether it was reached."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if reached():
            return True
        time.sleep(poll)
    return False
