"""Progress of the long commands (catalog refresh, catalog probe, sync, update, export) on stderr, in one of three shapes.

On a terminal: live bars, one for the listing (directories listed of those known, pages, keys), one for the
probe (files probed of expected) and one for the downloads (bytes, speed, time left; files done of planned).
Anywhere else (a log, CI) a plain line every few seconds, and with `--json` a JSON object per line instead, so
a long run is never silent (the probe, as before, shows only its bar: `Shape.QUIET` elsewhere). The interval
comes from `BINANCE_LAKE_PROGRESS_SECONDS` (default 5 s). Stdout stays for the command's result.
Every shape renders the one protocol of `core/progress.py`: the display is the stages' `ProgressSink`.
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

from binance_lake.core.errors import UsageError
from binance_lake.core.progress import Phase, ProgressEvent

INTERVAL_ENV = "BINANCE_LAKE_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 5.0


class Shape(StrEnum):
    BARS = "bars"
    LINES = "lines"
    JSON = "json"
    QUIET = "quiet"  # nothing at all (probe off a terminal, as it always was)


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


def listing_fields(e: ProgressEvent) -> dict[str, int]:
    return {
        "directories_done": e.done,
        "directories_total": e.total or 0,
        "pages": e.pages,
        "keys": e.keys,
    }


def probing_fields(e: ProgressEvent) -> dict[str, int]:
    return {"files_done": e.done, "files_total": e.total or 0}


def sync_fields(e: ProgressEvent) -> dict[str, int]:
    return {
        "files_done": e.done,
        "files_total": e.total or 0,
        "bytes_done": e.bytes_done,
        "bytes_total": e.bytes_total or 0,
        "rows": e.rows,
        "failures": e.failures,
    }


def listing_counts(e: ProgressEvent) -> str:
    total = str(e.total) if e.total else "?"
    return f"{e.done}/{total} directories, {e.pages:,} pages, {e.keys:,} keys"


def rest_fields(e: ProgressEvent) -> dict[str, int]:
    return {
        "series_done": e.done,
        "series_total": e.total or 0,
        "rows": e.rows,
        "requests": e.pages,
        "failures": e.failures,
    }


def rest_counts(e: ProgressEvent) -> str:
    total = str(e.total) if e.total is not None else "?"
    return f"{e.done}/{total} series, {e.rows} rows, {e.pages} requests, {e.failures} failed"


def export_fields(e: ProgressEvent) -> dict[str, int]:
    return {"series_done": e.done, "series_total": e.total or 0, "rows": e.rows}


def export_counts(e: ProgressEvent) -> str:
    total = str(e.total) if e.total is not None else "?"
    return f"{e.done}/{total} series, {e.rows:,} rows"


def probing_counts(e: ProgressEvent) -> str:
    total = str(e.total) if e.total is not None else "?"
    return f"{e.done}/{total} files"


def sync_counts(e: ProgressEvent, seconds: float, *, short: bool = False) -> str:
    done, total, bytes_total = e.done, e.total or 0, e.bytes_total or 0
    speed = e.bytes_done / seconds if seconds > 0 else 0.0
    counts = f"{done}/{total} files, {decimal(e.bytes_done)} of {decimal(bytes_total)}"
    if short:  # the bar's line has its own time columns
        return f"{counts}, {decimal(int(speed))}/s, {e.failures} failed/quarantined"
    # Re-downloads (a verification retry) can take bytes_done past the plan's total.
    left = max(0.0, (bytes_total - e.bytes_done) / speed) if speed > 0 else None
    left_text = f", {left:.0f} s left" if left is not None and bytes_total else ""
    return f"{counts}, {decimal(int(speed))}/s{left_text}, {e.rows:,} rows, {e.failures} failed/quarantined"


class ProgressDisplay:
    """A `ProgressSink` for `refresh`, `probe` and `sync` that renders their events in the chosen shape; pass
    it as `progress=` and use it as a context manager around the work."""

    def __init__(self, shape: Shape, *, stream: IO[str] | None = None, interval: float | None = None) -> None:
        self.shape = shape
        self.stream = stream or sys.stderr
        self.interval = interval_from_env() if interval is None else interval
        # The last event of each phase: immutable, so the ticker thread reads them without a lock.
        self._last: dict[Phase, ProgressEvent] = {}
        self._phase: Phase | None = None
        self._started = time.monotonic()
        self._phase_started = self._started
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bars: Progress | None = None
        self._tasks: dict[Phase, TaskID] = {}

    # -- events (called on the event loop) ------------------------------------------------------------

    def _enter_phase(self, phase: Phase) -> None:
        if self._phase != phase:
            if self._phase is not None and self._bars is None:
                self._emit()  # the finished phase's last state
            self._phase = phase
            self._phase_started = time.monotonic()

    def __call__(self, event: ProgressEvent, /) -> None:
        self._enter_phase(event.phase)
        self._last[event.phase] = event
        task = self._tasks.get(event.phase)
        if self._bars is None or task is None:
            return
        if event.phase is Phase.SYNC:
            # The bar follows bytes; files are their own count beside it.
            seconds = time.monotonic() - self._phase_started
            total, completed, counts = (
                event.bytes_total,
                event.bytes_done,
                sync_counts(event, seconds, short=True),
            )
        elif event.phase is Phase.LISTING:
            total, completed, counts = event.total, event.done, listing_counts(event)
        elif event.phase is Phase.REST:
            total, completed, counts = event.total, event.done, rest_counts(event)
        elif event.phase is Phase.EXPORT:
            total, completed, counts = event.total, event.done, export_counts(event)
        else:
            total, completed, counts = event.total, event.done, probing_counts(event)
        self._bars.update(task, visible=True, total=total or None, completed=completed, counts=counts)

    # -- periodic lines (a background thread, so a stalled download still reports) ------------------

    def line(self) -> str | None:
        """The current state as one line of the chosen shape (None before anything started)."""
        now = time.monotonic()
        seconds = now - self._phase_started
        event = self._last.get(self._phase) if self._phase is not None else None
        if event is None:
            return None
        if event.phase is Phase.LISTING:
            fields, counts = listing_fields(event), listing_counts(event)
        elif event.phase is Phase.SYNC:
            fields, counts = sync_fields(event), sync_counts(event, seconds)
        elif event.phase is Phase.REST:
            fields, counts = rest_fields(event), rest_counts(event)
        elif event.phase is Phase.EXPORT:
            fields, counts = export_fields(event), export_counts(event)
        else:
            fields, counts = probing_fields(event), probing_counts(event)
        if self.shape is Shape.JSON:
            return json.dumps(
                {"event": "progress", "phase": event.phase.value, **fields, "seconds": round(seconds, 1)}
            )
        return f"{event.phase.value}: {counts}, {seconds:.0f} s"

    def _emit(self) -> None:
        if self.shape is Shape.QUIET:
            return
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
            for phase in Phase:
                self._tasks[phase] = self._bars.add_task(phase.value, total=None, visible=False, counts="")
        elif self.shape is not Shape.QUIET:
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
