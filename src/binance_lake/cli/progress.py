"""Progress of the long commands (catalog refresh, sync) on stderr, in one of three shapes.

On a terminal: live bars, one for the listing (directories listed of those known, pages, keys) and one for
the downloads (bytes, speed, time left; files done of planned). Anywhere else (a log, CI) a plain line every
few seconds, and with `--json` a JSON object per line instead, so a long run is never silent. The interval
comes from `BINANCE_LAKE_PROGRESS_SECONDS` (default 5 s). Stdout stays for the command's result.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from enum import StrEnum
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from binance_lake.catalog.refresh import RefreshProgress
from binance_lake.core.errors import UsageError
from binance_lake.engine.executor import SyncProgress

INTERVAL_ENV = "BINANCE_LAKE_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 5.0


class Shape(StrEnum):
    BARS = "bars"
    LINES = "lines"
    JSON = "json"


def choose_shape(*, as_json: bool, stream: IO[str] | None = None) -> Shape:
    """JSON lines with `--json`; bars on a terminal; plain lines otherwise."""
    if as_json:
        return Shape.JSON
    return Shape.BARS if (stream or sys.stderr).isatty() else Shape.LINES


def interval_from_env() -> float:
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise UsageError(f"{INTERVAL_ENV} must be a positive number of seconds, not {text!r}")
    return seconds


def listing_fields(p: RefreshProgress) -> dict[str, int]:
    return {
        "directories_done": p.prefixes_done,
        "directories_total": p.prefixes_total,
        "pages": p.pages,
        "keys": p.keys,
    }


def sync_fields(p: SyncProgress) -> dict[str, int]:
    return {
        "files_done": p.files_done,
        "files_total": p.files_total,
        "bytes_done": p.bytes_done,
        "bytes_total": p.bytes_total,
        "rows": p.rows,
        "failures": p.failures,
    }


def listing_counts(p: RefreshProgress) -> str:
    total = str(p.prefixes_total) if p.prefixes_total else "?"
    return f"{p.prefixes_done}/{total} directories, {p.pages:,} pages, {p.keys:,} keys"


def sync_counts(p: SyncProgress, seconds: float, *, short: bool = False) -> str:
    speed = p.bytes_done / seconds if seconds > 0 else 0.0
    counts = f"{p.files_done}/{p.files_total} files, {decimal(p.bytes_done)} of {decimal(p.bytes_total)}"
    if short:  # the bar's line has its own time columns
        return f"{counts}, {decimal(int(speed))}/s, {p.failures} failed/quarantined"
    # Re-downloads (a verification retry) can take bytes_done past the plan's total.
    left = max(0.0, (p.bytes_total - p.bytes_done) / speed) if speed > 0 else None
    left_text = f", {left:.0f} s left" if left is not None and p.bytes_total else ""
    return f"{counts}, {decimal(int(speed))}/s{left_text}, {p.rows:,} rows, {p.failures} failed/quarantined"


class ProgressDisplay:
    """Feeds `refresh` and `sync` counters to the chosen shape; use as a context manager around the work."""

    def __init__(self, shape: Shape, *, stream: IO[str] | None = None, interval: float | None = None) -> None:
        self.shape = shape
        self.stream = stream or sys.stderr
        self.interval = interval_from_env() if interval is None else interval
        self.refresh = RefreshProgress(on_update=self._on_refresh)
        self.sync = SyncProgress(on_update=self._on_sync)
        self._phase: str | None = None
        self._started = time.monotonic()
        self._phase_started = self._started
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bars: Progress | None = None
        self._listing_task: TaskID | None = None
        self._sync_task: TaskID | None = None

    # -- counters (called on the event loop) ----------------------------------------------------------

    def _enter_phase(self, phase: str) -> None:
        if self._phase != phase:
            if self._phase is not None and self._bars is None:
                self._emit()  # the finished phase's last state
            self._phase = phase
            self._phase_started = time.monotonic()

    def _on_refresh(self, p: RefreshProgress) -> None:
        self._enter_phase("listing")
        if self._bars is not None and self._listing_task is not None:
            self._bars.update(
                self._listing_task,
                visible=True,
                total=p.prefixes_total or None,
                completed=p.prefixes_done,
                counts=listing_counts(p),
            )

    def _on_sync(self, p: SyncProgress) -> None:
        self._enter_phase("sync")
        if self._bars is not None and self._sync_task is not None:
            # The bar follows bytes; files are their own count beside it.
            self._bars.update(
                self._sync_task,
                visible=True,
                total=p.bytes_total or None,
                completed=p.bytes_done,
                counts=sync_counts(p, time.monotonic() - self._phase_started, short=True),
            )

    # -- periodic lines (a background thread, so a stalled download still reports) ------------------

    def line(self) -> str | None:
        """The current state as one line of the chosen shape (None before anything started)."""
        now = time.monotonic()
        seconds = now - self._phase_started
        if self._phase == "listing":
            fields, counts = listing_fields(self.refresh), listing_counts(self.refresh)
        elif self._phase == "sync":
            fields, counts = sync_fields(self.sync), sync_counts(self.sync, seconds)
        else:
            return None
        if self.shape is Shape.JSON:
            return json.dumps(
                {"event": "progress", "phase": self._phase, **fields, "seconds": round(seconds, 1)}
            )
        return f"{self._phase}: {counts}, {seconds:.0f} s"

    def _emit(self) -> None:
        with self._lock:
            text = self.line()
            if text is not None:
                self.stream.write(text + "\n")
                self.stream.flush()

    def _ticker(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    # -- context --------------------------------------------------------------------------------------

    def __enter__(self) -> ProgressDisplay:
        if self.shape is Shape.BARS:
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[counts]}", markup=False),
                TimeElapsedColumn(),
                console=Console(file=self.stream, emoji=False),
                transient=True,
            )
            self._bars.__enter__()
            self._listing_task = self._bars.add_task("listing", total=None, visible=False, counts="")
            self._sync_task = self._bars.add_task("sync", total=None, visible=False, counts="")
        else:
            self._thread = threading.Thread(target=self._ticker, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bars is not None:
            self._bars.__exit__(kind, error, trace)
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._emit()  # the final state, so even a short run leaves one line per phase it reached
