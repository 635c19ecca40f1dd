"""One export per output directory at a time: `<OUT>/.binance-lake/export.lock`, held for the whole export.

Two exports into the same `--out` (Qlib or CSV) would interleave their files and records (a Qlib calendar
appended twice, a manifest naming another run's bins). The lock is the project's pid-holding `flock`
(`storage.database.PidLock`, as the writer lock and the daemon's pid file): it goes with its process even
after `kill -9`, and its file names the holder. A second export waits `WAIT_SECONDS` for the first to finish,
then is refused in one sentence naming the other run's pid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from binance_lake.core.errors import StorageError
from binance_lake.export.qlib_state import STATE_DIR
from binance_lake.storage.database import PidLock

LOCK_NAME = "export.lock"
WAIT_SECONDS = 2.0
POLL_SECONDS = 0.05


class OutLocked(StorageError):
    """Another export is writing into the same output directory."""


class OutLock:
    """The lock of one output directory; use it as a context manager around an export."""

    def __init__(
        self,
        out: Path,
        *,
        wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.out = out
        self.path = out / STATE_DIR / LOCK_NAME
        self._wait = WAIT_SECONDS if wait is None else wait  # read at call time: tests shorten it
        self._clock, self._sleep = clock, sleep
        self._lock = PidLock(
            self.path,
            busy=lambda holder: OutLocked(
                f"another export (pid {holder}) is writing into {out}; wait for it to finish or use "
                "another --out"
            ),
            cannot_open=lambda reason: StorageError(
                f"cannot lock {self.path} ({reason}); --out must be writable"
            ),
        )

    def acquire(self) -> None:
        """Take the lock, retrying every `POLL_SECONDS` for up to `wait` seconds while another run holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create {self.path.parent}: {error.strerror or error}") from None
        self._lock.acquire_within(self._wait, poll=POLL_SECONDS, clock=self._clock, sleep=self._sleep)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> OutLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
