"""One daemon per lake: `<root>/daemon.pid`, held with `flock` for the daemon's whole life.

The lock goes with its process even after `kill -9`, so a stale file never blocks a new daemon; the file's
content is the holder's pid, which `daemon status` and `daemon stop` read. This is a lock of its own, not the
writer lock: the daemon's jobs take the writer lock for each run and let it go between runs, so a manual
`sync` can still run while the daemon sleeps.

`daemon status` (`running_pid`) takes the lock shared for an instant to learn whether a daemon holds it; a
daemon starting in that instant finds it taken by nobody (the file is empty), so `acquire` retries for a
moment (`ACQUIRE_WAIT_SECONDS`) while the file names no holder, and refuses at once when it names one.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from pathlib import Path

from binance_lake.core.errors import BinanceLakeError, StorageError
from binance_lake.storage.database import PidLock

PID_NAME = "daemon.pid"
ACQUIRE_WAIT_SECONDS = 1.0
"""How long a starting daemon retries a lock held by no named daemon (a `daemon status` peeking)."""


class DaemonRunning(BinanceLakeError):
    """Another daemon already runs for this lake."""


class PidFile(PidLock):
    """`<root>/daemon.pid`, held by the lake's daemon for its whole life."""

    def __init__(
        self,
        root: Path,
        *,
        wait: float = ACQUIRE_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._wait, self._clock, self._sleep = wait, clock, sleep
        super().__init__(
            root / PID_NAME,
            busy=lambda holder: DaemonRunning(
                f"a daemon (pid {holder}) already runs for the lake at {root}; "
                "stop it with `binance-lake daemon stop` or use it"
            ),
            cannot_open=lambda reason: StorageError(
                f"cannot write {root / PID_NAME} ({reason}); the daemon needs write access to the lake"
            ),
        )

    def acquire(self) -> None:
        """Take the pid file; while it is locked but names no daemon (a status peek, or a daemon between
        its lock and its write), retry every 20 ms for up to `wait` seconds."""
        self.acquire_within(
            self._wait,
            poll=0.02,
            clock=self._clock,
            sleep=self._sleep,
            retry=lambda holder: not _named_holder(self.path),
        )


def _named_holder(path: Path) -> bool:
    try:
        return path.read_text().strip().isdigit()
    except OSError:
        return False


def running_pid(root: Path) -> int | None:
    """The pid of the daemon holding `root`'s pid file, or None when none does."""
    path = root / PID_NAME
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None
