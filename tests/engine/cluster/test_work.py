"""Work items without Dask: the plan cut into ingest groups (a month's files of one series, one tick file),
and `run_item` in this process doing what a local sync does with the same files — the same partitions row for
row, every record returned for the client instead of written, the quarantine rule applied on the worker; the
items cut into batches (one Dask task each) in plan order, and `run_batch` doing the same for its items."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import Granularity
from binance_lake.core.partitions import TABLES_DIR, partitions_of
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.cluster.work import (
    ItemResult,
    WorkItem,
    batches,
    failed_item,
    run_batch,
    run_item,
    work_items,
)
from binance_lake.engine.plan import CatalogFile, Plan, PlannedFile, Reason, SyncMode
from binance_lake.engine.state import FileStatus
from binance_lake.engine.sync import plan_from_catalog
from binance_lake.engine.sync_request import build_sync_request
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase

MakeSim = Callable[..., SimServer]
# October as monthly files, November as daily ones; aggTrades as one tick file a day.
REQUEST = {
    "datasets": "klines,fundingRate,aggTrades",
    "intervals": "1h",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2026-10-28",
    "end": "2026-11-04",
}


def partitions(root: Path) -> dict[str, object]:
    return {
        str(p.relative_to(root)): pq.read_table(p)
        for p in sorted((root / TABLES_DIR).rglob("*.parquet"))
        if not p.name.startswith(".")
    }


def plan_of(settings: Settings, root: Path) -> Plan:
    """Everything the request needs, planned from `root`'s catalog as if nothing were held."""
    request = build_sync_request(settings, market=None, **REQUEST)  # type: ignore[arg-type]
    return plan_from_catalog(request, LakeDatabase(root), SyncMode.FROM_SCRATCH).plan


@pytest.fixture(scope="module")
def synced(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local sync of the request: its catalog to plan from, its partitions to compare with."""
    root = tmp_path_factory.mktemp("local")
    assert Lake(settings=sim_server.settings(root)).sync(**REQUEST).ok
    return root


def test_items_are_the_plans_ingest_groups(sim_server: SimServer, synced: Path) -> None:
    settings = sim_server.settings(synced)
    plan = plan_of(settings, synced)
    before = {plan.fetch[0].key: "bad-bytes"}
    items = work_items(plan.fetch, before, root=synced, settings=settings, concurrency=4)
    assert sorted(k for item in items for k in item.keys) == sorted(p.key for p in plan.fetch)
    assert [item.index for item in items] == list(range(len(items)))
    kinds = set()
    for item in items:
        spec = item.files[0].file.spec
        if spec.granularity is Granularity.MONTH:
            # A month's files of one series: all of them write the one monthly partition.
            targets = {partitions_of(p.file) for p in item.files}
            assert len(targets) == 1, item.keys
            kinds.add("month")
        else:
            assert len(item.files) == 1, item.keys  # one tick file
            kinds.add("tick")
        assert 1 <= item.concurrency <= min(4, len(item.files))
        assert item.failed_before == {k: v for k, v in before.items() if k in item.keys}
    assert kinds == {"month", "tick"}
    assert any(len(item.files) > 1 for item in items)  # November's daily klines go together


def test_run_item_writes_what_a_local_sync_writes(
    sim_server: SimServer, synced: Path, tmp_path: Path
) -> None:
    local, shared = synced, tmp_path / "shared"
    settings = sim_server.settings(shared)
    items = work_items(plan_of(settings, local).fetch, {}, root=shared, settings=settings)
    results = [run_item(pickle.loads(pickle.dumps(item))) for item in items]  # as Dask ships it
    assert partitions(shared) == partitions(local)
    with LakeDatabase(local).connect(read_only=True) as connection:
        local_rows = dict(connection.execute("SELECT key, rows FROM file_state").fetchall())
    assert not (shared / "lake.duckdb").exists()  # the worker never opens the lake's database
    for item, result in zip(items, results, strict=True):
        result = pickle.loads(pickle.dumps(result))
        assert isinstance(result, ItemResult) and result.index == item.index
        last = {s.key: s for s in result.states}
        assert set(last) == set(item.keys)
        assert {s.status for s in last.values()} == {FileStatus.INGESTED}
        assert {k: s.rows for k, s in last.items()} == {k: local_rows[k] for k in item.keys}
        assert result.execution.ingested == len(item.files) and not result.execution.failures
        assert result.execution.rows == sum(s.rows or 0 for s in last.values())
        assert {str(r.partition.path) for r in result.partitions} <= set(partitions(shared))
        assert result.days and result.bytes_received >= result.execution.bytes > 0
        assert result.stalled is None


def test_the_quarantine_rule_runs_on_the_worker(make_sim: MakeSim, tmp_path: Path) -> None:
    # Two November days of BTCUSDT are damaged for good upstream: their fresh downloads repeat the same bytes.
    broken = make_sim(faults="corrupt_permanent=1@*BTCUSDT-1h-2026-11-0[12].zip")
    settings = broken.settings(tmp_path)
    Lake(settings=settings).sync(**REQUEST)  # the catalog, and the client's view of the same files
    items = work_items(plan_of(settings, tmp_path).fetch, {}, root=tmp_path / "shared", settings=settings)
    (item,) = [i for i in items if any("BTCUSDT-1h-2026-11-01" in k for k in i.keys)]
    result = run_item(item)
    last = {s.key: s for s in result.states}
    bad = {k for k in item.keys if "-2026-11-01" in k or "-2026-11-02" in k}
    assert len(bad) == 2
    assert {k for k, s in last.items() if s.status is FileStatus.QUARANTINED} == bad
    assert {k for k, s in last.items() if s.status is FileStatus.INGESTED} == set(item.keys) - bad
    assert {f.key for f in result.execution.failures if f.quarantined} == bad
    assert all(last[k].failed_bytes for k in bad)


def test_a_failed_item_fails_each_file_and_keeps_earlier_fingerprints(
    sim_server: SimServer, synced: Path
) -> None:
    settings = sim_server.settings(synced)
    plan = plan_of(settings, synced)
    first = plan.fetch[0].key
    (item, *_) = work_items(plan.fetch, {first: "sha:size:etag"}, root=synced, settings=settings)
    result = failed_item(item, "the cluster could not run this work item: boom")
    assert {s.key: s.status for s in result.states} == dict.fromkeys(item.keys, FileStatus.FAILED)
    assert {s.key: s.failed_bytes for s in result.states} == {
        k: ("sha:size:etag" if k == first else None) for k in item.keys
    }
    assert [(f.key, f.quarantined) for f in result.execution.failures] == [(k, False) for k in item.keys]
    assert result.execution.ingested == 0 and not result.partitions and not result.days


def planned(index: int, size: int) -> PlannedFile:
    """A monthly 1h-klines file of its own series and month, of `size` bytes."""
    period = dt.date(2016 + index % 120 // 12, 1 + index % 12, 1)
    file = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", f"S{index // 120:04d}USDT", Interval.H1, period)
    return PlannedFile(CatalogFile(file.key, file, size, f"etag-{index}"), Reason.NEW)


@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=100), max_size=4), max_size=40),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=1, max_value=16),
)
def test_batches_cut_the_items_in_plan_order_within_both_bounds(
    sizes: list[list[int]], size: int, max_bytes: int, concurrency: int
) -> None:
    settings, root, counter = Settings(), Path("/lake"), iter(range(10**6))
    items = []
    for index, files in enumerate(sizes):
        chosen = tuple(planned(next(counter), n) for n in files)
        before = {p.key: f"bad-{p.key}" for p in chosen[:1]}
        items.append(WorkItem(index, chosen, before, root, settings))
    cut = batches(items, size=size, max_bytes=max_bytes, concurrency=concurrency)
    assert [item for batch in cut for item in batch.items] == items  # every item once, in plan order
    weight = [sum(p.entry.size for p in batch.files) for batch in cut]
    for batch, bytes_ in zip(cut, weight, strict=True):
        assert 1 <= len(batch.items) <= size
        assert bytes_ <= max_bytes or len(batch.items) == 1  # only an item too big alone exceeds it
        assert batch.index == batch.items[0].index
        assert batch.concurrency == max(1, min(concurrency, len(batch.files)))
        merged = batch.as_item()
        assert merged.files == batch.files and merged.keys == batch.keys
        assert merged.failed_before == {k: v for i in batch.items for k, v in i.failed_before.items()}
        assert (merged.index, merged.concurrency) == (batch.index, batch.concurrency)
    for (batch, bytes_), following in zip(zip(cut, weight, strict=True), cut[1:], strict=False):
        # As few tasks as the bounds allow: a batch closes only when the next item would break one.
        next_bytes = sum(p.entry.size for p in following.items[0].files)
        assert len(batch.items) == size or bytes_ + next_bytes > max_bytes
    with pytest.raises(ValueError, match="at least one item"):
        batches(items, size=0, max_bytes=max_bytes)


def test_run_batch_writes_what_a_local_sync_writes(
    sim_server: SimServer, synced: Path, tmp_path: Path
) -> None:
    local, shared = synced, tmp_path / "shared"
    settings = sim_server.settings(shared)
    items = work_items(plan_of(settings, local).fetch, {}, root=shared, settings=settings)
    cut = batches(items, size=3, max_bytes=2**40)
    assert len(cut) < len(items)
    results = [run_batch(pickle.loads(pickle.dumps(batch))) for batch in cut]  # as Dask ships it
    assert partitions(shared) == partitions(local)
    with LakeDatabase(local).connect(read_only=True) as connection:
        local_rows = dict(connection.execute("SELECT key, rows FROM file_state").fetchall())
    for batch, result in zip(cut, results, strict=True):
        last = {s.key: s for s in result.states}
        assert result.index == batch.index and set(last) == set(batch.keys)
        assert {s.status for s in last.values()} == {FileStatus.INGESTED}
        assert {k: s.rows for k, s in last.items()} == {k: local_rows[k] for k in batch.keys}
        assert result.execution.ingested == len(batch.files) and not result.execution.failures
