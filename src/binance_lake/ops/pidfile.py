"""One daemon per lake: `<root>/daemon.pid`, held with `flock` for the daemon's whole life.

The lock goes with its process even after `kill -9`, so a stale file never blocks a new daemon; the file's
content is the holder's pid, which `daemon status` and `daemon stop` read. This is a lock of its own, not the
writer lock: the daemon's jobs take the writer lock for each run and let it go between runs, so a manual
`sync` can still run while the daemon sleeps.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from binance_lake.core.errors import BinanceLakeError, StorageError

PID_NAME = "daemon.pid"


class DaemonRunning(BinanceLakeError):
    """Another daemon already runs for this lake."""


class PidFile:
    def __init__(self, root: Path) -> None:
        self.path = root / PID_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+")
        except OSError as error:
            raise StorageError(
                f"cannot write {self.path} ({error.strerror or error}); the daemon needs write access to the lake"
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DaemonRunning(
                f"a daemon (pid {holder}) already runs for the lake at {self.path.parent}; "
                "stop it with `binance-lake daemon stop` or use it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> PidFile:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
