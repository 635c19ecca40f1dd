"""The one progress protocol: events are immutable snapshots, counters only grow, totals stay unknown (None)
until a stage expects work, and the old spellings adapt onto it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.progress import (
    Phase,
    Progress,
    ProgressEvent,
    ProgressSink,
    from_done_total,
    listing_apart,
)

FIELDS = ("done", "bytes_done", "failures", "rows", "pages", "keys")


def test_an_event_is_an_immutable_snapshot() -> None:
    seen: list[ProgressEvent] = []
    progress = Progress(Phase.SYNC, seen.append)
    progress.expect(2, bytes_=100)
    first = progress.event
    progress.add(done=1, bytes_done=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.done = 5  # type: ignore[misc]
    assert first == ProgressEvent(Phase.SYNC, total=2, bytes_total=100)  # the later change made a new event
    assert seen == [first, progress.event] and progress.event.done == 1 and progress.event.bytes_done == 60


def totals(progress: Progress) -> tuple[int | None, int | None]:
    return progress.event.total, progress.event.bytes_total


def test_totals_are_unknown_until_work_is_expected() -> None:
    progress = Progress(Phase.LISTING)
    assert totals(progress) == (None, None)
    progress.add(pages=1)
    assert totals(progress) == (None, None)
    progress.expect(0)  # a dataset with no directories: the total is known, and it is 0
    assert totals(progress) == (0, None)
    progress.expect(3)
    assert totals(progress) == (3, None)
    progress.expect(bytes_=0)
    assert totals(progress) == (3, 0)


def test_counters_refuse_to_shrink() -> None:
    progress = Progress(Phase.PROBING)
    for name in FIELDS:
        with pytest.raises(ValueError, match="only grow"):
            progress.add(**{name: -1})
    with pytest.raises(ValueError, match="only grow"):
        progress.expect(-1)
    with pytest.raises(ValueError, match="only grow"):
        progress.expect(bytes_=-1)
    assert progress.event == ProgressEvent(Phase.PROBING)  # a refused change changes nothing


steps = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(FIELDS), st.integers(0, 10**9)),
    st.tuples(st.just("expect"), st.sampled_from(("units", "bytes_")), st.integers(0, 10**9)),
)


@given(st.lists(steps, max_size=40))
def test_every_emitted_event_is_at_least_the_one_before(ops: list[tuple[str, str, int]]) -> None:
    seen: list[ProgressEvent] = []
    progress = Progress(Phase.SYNC, seen.append)
    for op, name, amount in ops:
        if op == "add":
            progress.add(**{name: amount})
        else:
            progress.expect(**{name: amount})
    assert len(seen) == len(ops) and (not seen or seen[-1] is progress.event)
    for before, after in zip([ProgressEvent(Phase.SYNC), *seen], seen, strict=False):
        assert after.phase is Phase.SYNC
        for name in FIELDS:
            assert getattr(after, name) >= getattr(before, name)
        for name in ("total", "bytes_total"):
            old, new = getattr(before, name), getattr(after, name)
            assert old is None or (new is not None and new >= old)  # once known, a total stays known


def test_without_a_sink_the_counter_still_counts() -> None:
    progress = Progress(Phase.SYNC)
    progress.add(rows=7)
    assert progress.event.rows == 7


def test_probes_old_done_total_callback_is_adapted() -> None:
    calls: list[tuple[int, int]] = []
    sink: ProgressSink = from_done_total(lambda done, total: calls.append((done, total)))
    progress = Progress(Phase.PROBING, sink)
    progress.expect(2)
    progress.add(done=1)
    assert calls == [(0, 2), (1, 2)]


def test_the_old_refresh_progress_gets_the_listing_and_progress_the_rest() -> None:
    listing: list[ProgressEvent] = []
    rest: list[ProgressEvent] = []
    sink = listing_apart(rest.append, listing.append)
    Progress(Phase.LISTING, sink).add(pages=1)
    Progress(Phase.SYNC, sink).add(done=1)
    assert [e.phase for e in listing] == [Phase.LISTING] and [e.phase for e in rest] == [Phase.SYNC]
    listing_apart(None, listing.append)(ProgressEvent(Phase.SYNC))  # nowhere to go: dropped
    assert len(listing) == 1
