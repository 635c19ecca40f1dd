"""Live status files: what a running sync, update, stream or daemon is doing, for a monitor in another process.

DuckDB lets one process hold `lake.duckdb` read-write, and a reader that opens it makes the writer wait; a
monitor polling the database every second would slow the very run it watches. So every long run also writes
a small JSON file, `<root>/.live/<kind>-<pid>.json`, replaced atomically (write a temporary file, then
rename) at most every `interval` seconds and once more when the run ends; the monitor reads only these files
while a run is active. A file whose process is gone is reported as ended (`alive` False), never as running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from binance_lake.core.progress import ProgressEvent, ProgressSink
from binance_lake.storage.database import process_alive

LIVE_DIR = ".live"
KEEP_ENDED = dt.timedelta(days=2)
"""Ended runs' files older than this are removed by the next writer."""


@dataclass(frozen=True)
class LiveRun:
    """One run's last published state."""

    kind: str  # sync | update | stream | daemon | …
    pid: int
    started_at: str
    updated_at: str
    phase: str | None = None
    done: int = 0
    total: int | None = None
    bytes_done: int = 0
    failures: int = 0
    rows: int = 0
    rate_bytes_s: float | None = None
    eta_s: float | None = None
    ended_at: str | None = None
    outcome: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    alive: bool = True

    @property
    def active(self) -> bool:
        return self.alive and self.ended_at is None

    @property
    def writing(self) -> bool:
        """Whether this run may be writing the lake now (a daemon between jobs is not)."""
        if not self.active:
            return False
        return self.kind != "daemon" or bool(self.extra.get("current_job"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LiveStatus:
    """The live file of one run: `publish(...)` as often as you like, it writes at most every `interval` s."""

    def __init__(
        self,
        root: Path,
        kind: str,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = root / LIVE_DIR / f"{kind}-{os.getpid()}.json"
        self._interval = interval
        self._clock = clock
        self._last_write = float("-inf")
        self._started = clock()
        # The daemon publishes from its scheduler thread and its stream supervisor's thread.
        self._write_lock = threading.Lock()
        self._state: dict[str, Any] = {
            "kind": kind,
            "pid": os.getpid(),
            "started_at": _now(),
            "updated_at": _now(),
        }

    def publish(self, *, force: bool = False, **fields: Any) -> None:
        """Merge `fields` into the state and write it when `interval` has passed (or `force`)."""
        with self._write_lock:
            self._state.update(fields)
            now = self._clock()
            if force or now - self._last_write >= self._interval:
                self._state["updated_at"] = _now()
                self._write()
                self._last_write = now

    def sink(self, downstream: ProgressSink | None = None) -> ProgressSink:
        """A progress sink that publishes each event (throttled), then passes it to `downstream`."""

        def on_event(event: ProgressEvent, /) -> None:
            elapsed = max(self._clock() - self._started, 1e-9)
            rate = event.bytes_done / elapsed if event.bytes_done else None
            eta = None
            if event.total and event.done and event.total > event.done:
                eta = (event.total - event.done) * elapsed / event.done
            self.publish(
                phase=event.phase.value,
                done=event.done,
                total=event.total,
                bytes_done=event.bytes_done,
                failures=event.failures,
                rows=event.rows,
                rate_bytes_s=rate,
                eta_s=eta,
            )
            if downstream is not None:
                downstream(event)

        return on_event

    def end(self, outcome: str, **fields: Any) -> None:
        """The run is over: publish its outcome now."""
        self.publish(force=True, ended_at=_now(), outcome=outcome, **fields)

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._state, default=str, sort_keys=True))
            temporary.replace(self.path)
        except OSError:
            # A monitor is a convenience: a full or read-only disk must not fail the run it watches.
            pass

    @contextlib.contextmanager
    def running(self) -> Iterator[LiveStatus]:
        """Publish at start, and `ok` / `failed` / `interrupted` at the end (re-raising what ended it)."""
        _prune(self.path.parent)
        self.publish(force=True)
        try:
            yield self
        except KeyboardInterrupt:
            self.end("interrupted")
            raise
        except BaseException:
            self.end("failed")
            raise
        else:
            if self._state.get("outcome") is None:
                self.end("ok")


def read_live(root: Path) -> list[LiveRun]:
    """Every run's published state, newest first; unreadable or half-written files are skipped."""
    runs: list[LiveRun] = []
    directory = root / LIVE_DIR
    if not directory.is_dir():
        return runs
    known = {f.name for f in LiveRun.__dataclass_fields__.values()}
    for path in directory.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "pid" not in data:
            continue
        values = {k: v for k, v in data.items() if k in known and k != "extra"}
        # What a run publishes beyond the common counters (the daemon's schedule, its current job, …).
        values["extra"] = {k: v for k, v in data.items() if k not in known}
        values["alive"] = process_alive(int(data["pid"])) and data.get("ended_at") is None
        runs.append(LiveRun(**values))
    runs.sort(key=lambda run: run.updated_at, reverse=True)
    return runs


def active_runs(root: Path) -> list[LiveRun]:
    return [run for run in read_live(root) if run.active]


def as_dict(run: LiveRun) -> dict[str, Any]:
    return asdict(run)


def _prune(directory: Path) -> None:
    if not directory.is_dir():
        return
    limit = time.time() - KEEP_ENDED.total_seconds()
    for path in directory.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
            if not process_alive(int(data.get("pid", 0))) and path.stat().st_mtime < limit:
                path.unlink()
