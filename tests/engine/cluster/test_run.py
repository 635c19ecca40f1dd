"""`sync --cluster` on real Dask worker processes (`LocalCluster(n_workers=2, processes=True)`, loopback, no
dashboards) against the simulator, which serves every worker: the lake equals a local sync of the same
selection row for row (loaded frames, file states, day provenance), also with a worker killed (SIGKILL)
in the middle of a task (of one item, or of a batch of two), and within a bounded window of items in
flight, batched so that each worker thread keeps two tasks."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed  # the dev extra has it (extra `cluster`): missing is a failure, not a skip
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import Stalled, UsageError
from binance_lake.core.progress import Phase, ProgressEvent
from binance_lake.engine.cluster import run as cluster_run
from binance_lake.engine.executor import INTERRUPTED
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase

MakeSim = Callable[..., SimServer]
BOTH = ["BTCUSDT", "ETHUSDT"]
REQUEST = {
    "datasets": "klines,fundingRate,aggTrades",
    "intervals": "1h",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2026-10-28",
    "end": "2026-11-04",
}
# (dataset, interval, symbols): the small universe has aggTrades of BTCUSDT only (October is one big file).
SERIES = [("klines", "1h", BOTH), ("fundingRate", None, BOTH), ("aggTrades", None, ["BTCUSDT"])]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        **cluster_run.LOCAL_HTTP,
    ) as started:
        yield started


def frames(lake: Lake) -> dict[str, pd.DataFrame]:
    return {
        dataset: lake.load(dataset, symbols, REQUEST["start"], REQUEST["end"], interval=interval)
        for dataset, interval, symbols in SERIES
    }


def records(root: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What lake.duckdb says was done: file states, day provenance and partitions, without times."""
    with LakeDatabase(root).connect(read_only=True) as connection:
        files = connection.execute(
            "SELECT key, status, sha256, checksum, rows, error FROM file_state ORDER BY key"
        ).fetchall()
        days = connection.execute(
            "SELECT path, day, source, upstream_ref, etag, rows FROM day_provenance ORDER BY path, day"
        ).fetchall()
        parts = connection.execute("SELECT path, rows FROM partitions ORDER BY path").fetchall()
    return files, days, parts


def assert_same_lake(cluster_root: Path, local_root: Path, server: SimServer) -> None:
    got, want = (
        frames(Lake(settings=server.settings(cluster_root))),
        frames(Lake(settings=server.settings(local_root))),
    )
    for dataset in want:
        assert len(want[dataset]) > 0, dataset
        pd.testing.assert_frame_equal(got[dataset], want[dataset])
    assert records(cluster_root) == records(local_root)
    leftovers = [p for p in (cluster_root / "tables").rglob(".*") if p.is_file()]
    assert not leftovers


@pytest.fixture(scope="module")
def local_root(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local")
    assert Lake(settings=sim_server.settings(root)).sync(**REQUEST).ok
    return root


@pytest.mark.slow
def test_a_cluster_sync_equals_a_local_sync(
    sim_server: SimServer, cluster: Any, local_root: Path, tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    lake = Lake(settings=sim_server.settings(tmp_path))
    report = lake.sync(**REQUEST, cluster=cluster.scheduler_address, progress=events.append)
    assert report.ok and report.summary()["cluster"] == cluster.scheduler_address
    assert report.execution is not None and report.execution.ingested == len(report.plan.fetch)
    assert_same_lake(tmp_path, local_root, sim_server)
    sync = [e for e in events if e.phase is Phase.SYNC]
    assert sync[-1].done == sync[-1].total == len(report.plan.fetch)
    assert sync[-1].rows == report.execution.rows and sync[-1].bytes_done >= report.execution.bytes > 0
    # Resumable as ever: the same call plans nothing.
    assert not lake.sync(**REQUEST, cluster=cluster.scheduler_address).plan.fetch


@pytest.mark.slow
@pytest.mark.parametrize("window", [4, 8], ids=["one-item-a-task", "two-items-a-task"])
def test_a_worker_killed_mid_item_is_retried_and_the_lake_equals_a_local_sync(
    make_sim: MakeSim, cluster: Any, local_root: Path, tmp_path: Path, window: int
) -> None:
    # Every archive file answers after 0.3 s, so both workers are always in the middle of an item.
    slow = make_sim(faults="stall=1,stall_seconds=0.3@*/data/futures/*.zip")
    scheduler = cluster.scheduler
    killed: list[tuple[int, set[str]]] = []

    def kill_one(event: ProgressEvent) -> None:
        if event.phase is not Phase.SYNC or event.done == 0 or killed:
            return
        for worker in list(scheduler.workers.values()):
            busy = {task.key for task in worker.processing}
            if busy and worker.pid:
                os.kill(worker.pid, signal.SIGKILL)
                killed.append((worker.pid, busy))
                return

    lake = Lake(settings=slow.settings(tmp_path))
    report = lake.sync(**REQUEST, cluster=cluster.scheduler_address, cluster_window=window, progress=kill_one)
    assert killed, "no worker was busy when the first result came"
    ((pid, busy),) = killed
    assert busy and all(str(key).startswith("binance-lake-sync-") for key in busy)
    # The scheduler ran the killed worker's item again (its transition log keeps each start).
    starts = [t for key in busy for t in scheduler.story(key) if t[2] == "processing"]
    assert len(starts) >= 2 * len(busy), starts
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert report.ok, report.summary()["failed"]
    assert_same_lake(tmp_path, local_root, slow)
    cluster.wait_for_workers(2)  # the nanny restarts it, for the next test


@pytest.mark.slow
@pytest.mark.parametrize("window", [2, 8])
def test_the_window_bounds_items_in_flight(
    sim_server: SimServer, cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    peak = [0, 0]  # items in flight now, most ever
    tasks: list[int] = []  # items of each task submitted
    real = cluster_run.ClusterExecutor._record

    def record(self: Any, writer: Any, batch: Any, result: Any) -> None:
        peak[0] -= len(batch.items)
        real(self, writer, batch, result)

    original_submit = distributed.Client.submit

    def submit(self: Any, function: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        tasks.append(len(batch.items))
        peak[0] += len(batch.items)
        peak[1] = max(peak)
        return original_submit(self, function, batch, *args, **kwargs)

    monkeypatch.setattr(cluster_run.ClusterExecutor, "_record", record)
    monkeypatch.setattr(distributed.Client, "submit", submit)
    report = Lake(settings=sim_server.settings(tmp_path)).sync(
        **REQUEST, cluster=cluster.scheduler_address, cluster_window=window
    )
    assert report.ok and len(report.plan.fetch) > 4
    assert (
        peak[0] == 0 and 2 <= peak[1] <= window
    )  # never more than the window in flight, every item recorded
    # Two worker threads, two tasks each in flight: a window of 8 runs two neighbouring items a task, of 2 one.
    if window == 2:
        assert set(tasks) == {1}, tasks
    else:
        assert max(tasks) == 2 and len(tasks) < sum(tasks), tasks


@given(
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=256),
    st.none() | st.integers(min_value=1, max_value=10**5),
)
def test_batching_keeps_the_window_and_spreads_a_small_plan(
    items: int, threads: int, window: int | None
) -> None:
    size, slots = cluster_run.batching(items, threads, window)
    bound = window if window is not None else 2 * threads * cluster_run.MAX_BATCH
    assert 1 <= size <= cluster_run.MAX_BATCH and slots >= 1
    assert size * slots <= bound  # results held: at most the window's items
    # A small plan still gives each thread SPREAD tasks; a big one fills the batches.
    assert size <= max(1, -(-items // (cluster_run.SPREAD * threads)))
    if window is None and items >= cluster_run.SPREAD * threads * cluster_run.MAX_BATCH:
        assert size == cluster_run.MAX_BATCH and slots == 2 * threads


def test_an_unreachable_scheduler_is_one_sentence(
    sim_server: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_run, "CONNECT_TIMEOUT", 0.5)
    lake = Lake(settings=sim_server.settings(tmp_path))
    with pytest.raises(
        cluster_run.ClusterError, match=r"Dask scheduler at tcp://127\.0\.0\.1:9 did not answer"
    ):
        lake.sync(**REQUEST, cluster="tcp://127.0.0.1:9")
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        states = connection.execute("SELECT status, count(*) FROM file_state GROUP BY status").fetchall()
    assert states and {status for status, _ in states} == {"planned"}  # the plan is kept for the next run


def test_a_bad_cluster_spelling_is_a_usage_error_before_any_work(
    sim_server: SimServer, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="local:N"):
        Lake(settings=sim_server.settings(tmp_path)).sync(**REQUEST, cluster="local")
    assert not (tmp_path / "lake.duckdb").exists()


@pytest.mark.slow
def test_the_cli_runs_a_local_cluster(sim_server: SimServer, local_root: Path, tmp_path: Path) -> None:
    args = [f"--{name}={value}" for name, value in REQUEST.items()]
    done = subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "sync", *args,
         "--cluster", "local:2", "--format", "json"],
        env={**os.environ, **sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"cluster": "local:2"' in done.stdout
    assert "Traceback" not in done.stderr
    assert_same_lake(tmp_path, local_root, sim_server)
    bad = subprocess.run(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "sync", *args, "--cluster", "8786"],
        env={**os.environ, **sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "local:N" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_a_stall_on_a_worker_ends_the_run_in_one_sentence_and_the_same_call_resumes(
    make_sim: MakeSim, cluster: Any, local_root: Path, tmp_path: Path
) -> None:
    hung = make_sim(faults="stall=1,stall_seconds=60@*/aggTrades/*.zip")  # listings answer, tick files never
    settings = dataclasses.replace(hung.settings(tmp_path), stall_timeout=5.0)  # loose: the machine is shared
    with pytest.raises(Stalled, match="no answer from"):
        Lake(settings=settings).sync(**REQUEST, cluster=cluster.scheduler_address)
    with LakeDatabase(tmp_path).connect(read_only=True) as connection:
        left = connection.execute(
            "SELECT key, status, error FROM file_state WHERE status <> 'ingested' ORDER BY key"
        ).fetchall()
    # As in a local run: the items in flight are failed ("interrupted"), those never started still planned.
    assert left and {status for _, status, _ in left} <= {"failed", "planned"}
    interrupted = [key for key, _, error in left if error == INTERRUPTED]
    assert interrupted and any("aggTrades" in key for key in interrupted)
    # Files of other items were recorded as they arrived; the next call does the rest, the same as a local run.
    fine = make_sim()  # the same universe, answering
    report = Lake(settings=fine.settings(tmp_path)).sync(**REQUEST, cluster=cluster.scheduler_address)
    assert report.ok
    assert len(report.plan.fetch) == len(left)
    assert_same_lake(tmp_path, local_root, fine)


def test_without_dask_the_cluster_is_refused_before_any_work(
    sim_server: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    with pytest.raises(UsageError, match=r"pip install 'binance-lake\[cluster\]'"):
        Lake(settings=sim_server.settings(tmp_path)).sync(**REQUEST, cluster="local:2")
    assert not (tmp_path / "lake.duckdb").exists()
