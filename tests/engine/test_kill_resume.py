"""`kill -9` at random moments of a sync, then `sync` again: the job finishes with no lost and no duplicated
rows, equal row for row to an uninterrupted sync, and nothing half-written is left visible."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from tests.engine import sync_processes
from tests.engine.sync_processes import started, wait_until

# The October monthly files and November's daily 1m files: a few seconds of work, mostly in the executor.
REQUEST = {
    "datasets": "klines,markPriceKlines,fundingRate",
    "intervals": "1m,1h",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2026-10-20",
    "end": "2026-11-18",
}
KILLS = 5  # the first during start-up, the others at random moments while files are downloaded


def sync_process(server: SimServer, root: Path) -> subprocess.Popen[str]:
    return sync_processes.sync_process(server, REQUEST, {"BINANCE_LAKE_ROOT": str(root)})


def raw_files(root: Path) -> int:
    raw = root / "raw"
    return sum(1 for _ in raw.rglob("*.zip*")) if raw.exists() else 0


def wait_for_downloads(root: Path, process: subprocess.Popen[str]) -> float:
    """Wait until the sync writes a new raw file (its executor is running); seconds since it started."""
    before = raw_files(root)
    wait_until(process, lambda: raw_files(root) != before, timeout=30)
    return time.monotonic() - started(process)


def tables(root: Path) -> dict[str, pa.Table]:
    return {
        str(p.relative_to(root)): pq.read_table(p) for p in sorted((root / TABLES_DIR).rglob("*.parquet"))
    }


def statuses(root: Path) -> dict[str, str]:
    with LakeDatabase(root).connect() as connection:
        return dict(connection.execute("SELECT key, status FROM file_state").fetchall())


# Every zip download stalls a little, so each run takes seconds however fast this machine is: a resumed run
# still has work left when the next kill comes (a warm simulator and a quick client once made the test flaky).
SLOW_DOWNLOADS = "stall=1,stall_seconds=0.4@*.zip"


def test_kill_9_at_random_points_then_sync_again_equals_an_uninterrupted_sync(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim_server = make_sim(faults=SLOW_DOWNLOADS)
    reference_root = tmp_path / "reference"
    reference = Lake(settings=sim_server.settings(reference_root)).sync(**REQUEST)  # type: ignore[arg-type]
    assert reference.ok

    root = tmp_path / "killed"
    rng = random.Random(20261118)
    killed_at: list[float] = []
    progress: list[int] = []
    for attempt in range(KILLS):
        process = sync_process(sim_server, root)
        if attempt == 0:
            delay = rng.uniform(0.2, 1.2)  # during start-up or the catalog refresh
            time.sleep(delay)
        else:
            delay = wait_for_downloads(root, process) + rng.uniform(0.0, 0.35)  # while files move
            # Under load the wait itself can outlast the delay: then kill at once.
            time.sleep(max(0.0, delay - (time.monotonic() - started(process))))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_at.append(round(delay, 2))
        process.communicate(timeout=60)
        progress.append(sum(1 for _ in (root / "raw").rglob("*.zip")) if (root / "raw").exists() else 0)
    assert len(killed_at) >= 3, f"the sync finished before it could be killed often: {killed_at}"
    # Kills landed while files were being fetched (verified zips on disk, not all of them), not only before.
    total = len(reference.plan.fetch)
    assert any(0 < done < total for done in progress), (killed_at, progress)

    finish = sync_process(sim_server, root)
    _, err = finish.communicate(timeout=60)
    assert finish.returncode == 0, err

    expected, got = tables(reference_root), tables(root)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].equals(expected[name]), name
    assert set(statuses(root).values()) == {"ingested"}
    assert statuses(root).keys() == statuses(reference_root).keys()
    # Nothing half-written is left where a reader could see it.
    leftovers = [p for p in (root / TABLES_DIR).rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == []
    # A sync right after has nothing to do.
    assert Lake(settings=sim_server.settings(root)).sync(**REQUEST, dry_run=True).plan.is_empty  # type: ignore[arg-type]
