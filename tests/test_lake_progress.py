"""`Lake`'s progress against the simulator: refresh, probe and sync all report `ProgressEvent`s to the same
kind of sink (here a list's `append`), each phase's counters growing to its total; the old spellings
(`on_progress=`, `refresh_progress=`, `RefreshProgress`, `SyncProgress`) still work, with a
DeprecationWarning."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from binance_lake.catalog.refresh import RefreshProgress
from binance_lake.core.progress import Phase, ProgressEvent
from binance_lake.engine.executor import SyncProgress
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer

KLINES: dict[str, Any] = {"datasets": "klines", "intervals": "1h", "symbols": "BTCUSDT"}
SYNC: dict[str, Any] = {"market": "um", **KLINES, "start": "2026-11-01", "end": "2026-11-03"}


def phases(events: list[ProgressEvent]) -> list[Phase]:
    """The phases in the order they reported, each once per stretch."""
    order: list[Phase] = []
    for event in events:
        if not order or order[-1] is not event.phase:
            order.append(event.phase)
    return order


def assert_grows_to_its_total(events: list[ProgressEvent]) -> ProgressEvent:
    for before, after in itertools.pairwise(events):
        assert after.done >= before.done and after.bytes_done >= before.bytes_done
        assert after.pages >= before.pages and after.keys >= before.keys and after.rows >= before.rows
    last = events[-1]
    assert last.total is not None and last.done == last.total > 0, last
    return last


def test_refresh_probe_and_sync_report_through_one_sink(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    refreshed: list[ProgressEvent] = []
    lake.catalog.refresh(markets="um", **KLINES, exchange_info=False, progress=refreshed.append)
    probed: list[ProgressEvent] = []
    report = lake.catalog.probe("2026-11-19", days_back=2, markets="um", progress=probed.append)
    synced: list[ProgressEvent] = []
    assert lake.sync(**SYNC, progress=synced.append).ok

    assert phases(refreshed) == [Phase.LISTING]
    listing = assert_grows_to_its_total(refreshed)
    assert listing.pages > 0 and listing.keys > 0 and listing.bytes_total is None

    assert phases(probed) == [Phase.PROBING]
    assert probed[0].total == report.probed and probed[0].done == 0  # the total is known before any HEAD
    assert assert_grows_to_its_total(probed).total == report.probed

    assert phases(synced) == [Phase.LISTING, Phase.SYNC]  # the sync's own refresh, then its downloads
    downloads = [e for e in synced if e.phase is Phase.SYNC]
    last = assert_grows_to_its_total(downloads)
    assert last.bytes_total and last.bytes_done >= last.bytes_total and last.rows > 0 and last.failures == 0


def test_the_old_spellings_still_work_with_a_deprecation_warning(
    sim_server: SimServer, tmp_path: Path
) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    with pytest.warns(DeprecationWarning, match="RefreshProgress is deprecated"):
        counters = RefreshProgress()
    lake.catalog.refresh(markets="um", **KLINES, exchange_info=False, progress=counters)
    assert counters.prefixes_done == counters.prefixes_total > 0 and counters.keys > 0

    calls: list[tuple[int, int]] = []
    with pytest.warns(DeprecationWarning, match="on_progress= is now progress="):
        report = lake.catalog.probe(
            "2026-11-19", markets="um", on_progress=lambda done, total: calls.append((done, total))
        )
    assert calls and calls[-1] == (report.probed, report.probed)

    listed: list[ProgressEvent] = []
    with pytest.warns(DeprecationWarning) as caught:
        old = SyncProgress()
        assert lake.sync(**SYNC, progress=old, refresh_progress=listed.append).ok
    assert {str(w.message).split(" ")[0] for w in caught} == {"SyncProgress", "the"}
    assert listed and {e.phase for e in listed} == {Phase.LISTING}
    assert old.files_done == old.files_total > 0 and old.rows > 0
