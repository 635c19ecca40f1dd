"""The one progress protocol of the long stages: catalog refresh ("listing"), probe ("probing"), sync and
`update`'s REST fill ("rest"), the exports ("export": Qlib, CSV, PostgreSQL).

A stage owns a `Progress` counter and reports through it; every change is sent to a `ProgressSink` (any
callable taking a `ProgressEvent`) as a frozen snapshot, so a display may keep or compare events without the
stage changing them under it. The counters only grow (a stage learns more work and does more of it); a total
is None until the stage knows it. Rendering the events (bars, lines, JSON) is the CLI's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class Phase(StrEnum):
    """The stage an event comes from; its value is the name the displays print."""

    LISTING = "listing"  # units: archive directories listed
    PROBING = "probing"  # units: daily files HEAD-probed
    SYNC = "sync"  # units: archive files downloaded and ingested (or failed)
    REST = "rest"  # units: REST windows (one series each) fetched and written (or failed); pages: requests
    EXPORT = "export"  # units: series (one symbol of one dataset/interval) exported or up to date; rows


@dataclass(frozen=True)
class ProgressEvent:
    """One stage's counters at one moment. `total`/`bytes_total` None: not known (yet)."""

    phase: Phase
    done: int = 0
    total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    failures: int = 0  # files failed or quarantined
    rows: int = 0  # rows written
    pages: int = 0  # listing pages read
    keys: int = 0  # listing keys seen


class ProgressSink(Protocol):
    """Where a stage's events go. Called on the event loop after each change: it must be quick."""

    def __call__(self, event: ProgressEvent, /) -> None: ...


class Progress:
    """A stage's mutable counters; each change emits a snapshot to the sink (when there is one).

    Only growing is allowed: `add` takes non-negative amounts and `expect` raises a total (a total starts
    unknown, None, and becomes known the first time work is expected)."""

    def __init__(self, phase: Phase, sink: ProgressSink | None = None) -> None:
        self.phase = phase
        self.sink = sink
        self._event = ProgressEvent(phase)

    @property
    def event(self) -> ProgressEvent:
        """The current snapshot (immutable; later changes make new ones)."""
        return self._event

    def expect(self, units: int | None = None, *, bytes_: int | None = None) -> None:
        """More work is known: raise `total` by `units` and `bytes_total` by `bytes_` (an unknown total counts
        from 0; an argument left None leaves its total as it is, known or not)."""
        _check(units=units or 0, bytes_=bytes_ or 0)
        e = self._event
        self._emit(
            replace(
                e,
                total=e.total if units is None else (e.total or 0) + units,
                bytes_total=e.bytes_total if bytes_ is None else (e.bytes_total or 0) + bytes_,
            )
        )

    def add(
        self,
        *,
        done: int = 0,
        bytes_done: int = 0,
        failures: int = 0,
        rows: int = 0,
        pages: int = 0,
        keys: int = 0,
    ) -> None:
        """Count work done (every amount non-negative) and emit the new snapshot."""
        _check(done=done, bytes_done=bytes_done, failures=failures, rows=rows, pages=pages, keys=keys)
        e = self._event
        self._emit(
            replace(
                e,
                done=e.done + done,
                bytes_done=e.bytes_done + bytes_done,
                failures=e.failures + failures,
                rows=e.rows + rows,
                pages=e.pages + pages,
                keys=e.keys + keys,
            )
        )

    def _emit(self, event: ProgressEvent) -> None:
        self._event = event
        if self.sink is not None:
            self.sink(event)


def _check(**amounts: int) -> None:
    negative = [name for name, amount in amounts.items() if amount < 0]
    if negative:
        raise ValueError(f"progress counters only grow; negative amounts for {', '.join(negative)}")


# -- the old spellings, kept for one release (the `Lake` warns when they are used) ------------------------


def from_done_total(on_progress: Callable[[int, int], None]) -> ProgressSink:
    """Probe's old `on_progress(done, total)` callback as a sink."""

    def sink(event: ProgressEvent, /) -> None:
        on_progress(event.done, event.total or 0)

    return sink


def listing_apart(progress: ProgressSink | None, listing: ProgressSink) -> ProgressSink:
    """Sync's old `refresh_progress=`: the listing's events to `listing`, the others to `progress`."""

    def sink(event: ProgressEvent, /) -> None:
        target = listing if event.phase is Phase.LISTING else progress
        if target is not None:
            target(event)

    return sink
