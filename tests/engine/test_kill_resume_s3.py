"""`kill -9` at random moments of a sync into an `s3://` lake (moto's S3 server): after every kill, every object
under `tables/` is a whole Parquet file and `Lake.load` returns only rows an uninterrupted sync has; then
`sync` again ends with the same rows, row for row, as the same sync into a local root."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage import objects
from tests.engine import sync_processes
from tests.engine.sync_processes import wait_until
from tests.engine.test_kill_resume import SLOW_DOWNLOADS, tables
from tests.s3_server import S3Root

REQUEST = {
    "datasets": "klines,fundingRate",
    "intervals": "1m,1h",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2026-10-25",
    "end": "2026-11-12",
}
LOADS = [("klines", "1m"), ("klines", "1h"), ("fundingRate", None)]
KILLS = 4


def sync_process(server: SimServer, s3: S3Root) -> subprocess.Popen[str]:
    env = {**s3.server.env(), "BINANCE_LAKE_ROOT": s3.url, "BINANCE_LAKE_STATE_DIR": str(s3.state_dir)}
    return sync_processes.sync_process(server, REQUEST, env)


def downloading(state_dir: Path, process: subprocess.Popen[str]) -> None:
    """Wait until the sync downloads (a zip lands in the state directory's raw/ before its upload)."""
    raw = state_dir / "raw"
    wait_until(process, lambda: raw.exists() and any(p.is_file() for p in raw.rglob("*")), timeout=30)


def publishing(s3: S3Root, process: subprocess.Popen[str], before: int) -> None:
    """Wait until the sync has published a partition more than the `before` the bucket held."""
    wait_until(process, lambda: len(objects_under_tables(s3, read=False)) > before, timeout=60, poll=0.1)


def objects_under_tables(s3: S3Root, *, read: bool = True) -> dict[str, pa.Table | None]:
    """Every object under the lake's `tables/`, read whole (a half-written object would fail here)."""
    fs = s3.server.filesystem()
    base = f"{s3.server.bucket}/{s3.prefix}/tables"
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    found: dict[str, pa.Table | None] = {}
    for info in infos:
        if info.type == pafs.FileType.File:
            name = "tables/" + info.path.removeprefix(base + "/")
            if not read:
                found[name] = None
                continue
            with fs.open_input_file(info.path) as handle:
                found[name] = pq.read_table(handle)
    return found


def loaded(lake: Lake) -> dict[tuple[str, str | None], pa.Table]:
    """Each series of the request as `Lake.load` returns it (absent: nothing held yet)."""
    window = {"symbols": REQUEST["symbols"], "start": REQUEST["start"], "end": REQUEST["end"]}
    found = {}
    for dataset, interval in LOADS:
        try:
            found[(dataset, interval)] = lake.load(dataset, interval=interval, as_="arrow", **window)
        except UsageError as error:
            assert "holds no" in str(error)
    return found


def contained(part: pa.Table, whole: pa.Table) -> bool:
    """Every row of `part` is a row of `whole`, matched on (symbol, time) (whole days: the lake never stores a
    part of a file's day). Symbols may cover different days in `part`, so the match is on the pair."""
    if part.num_rows == 0:
        return True
    time_column = part.column_names[1]
    keys = part.select(["symbol", time_column])
    picked = whole.join(keys, keys=["symbol", time_column], join_type="left semi")
    order = [("symbol", "ascending"), (time_column, "ascending")]
    return picked.sort_by(order).equals(part.sort_by(order))


@pytest.mark.slow
def test_kill_9_into_s3_never_shows_a_half_written_object_and_resumes_to_the_local_rows(
    make_sim: Callable[..., SimServer], s3_root: S3Root, tmp_path: Path
) -> None:
    server = make_sim(faults=SLOW_DOWNLOADS)
    local_root = tmp_path / "local"
    local = Lake(settings=server.settings(local_root))
    assert local.sync(**REQUEST).ok  # type: ignore[arg-type]
    expected = loaded(local)

    rng = random.Random(20261202)
    kills = 0
    published: list[int] = []
    for attempt in range(KILLS):
        before = len(objects_under_tables(s3_root))
        process = sync_process(server, s3_root)
        downloading(s3_root.state_dir, process)
        if attempt:
            # Later kills wait for this run's first publication (a loaded machine may take seconds to it).
            publishing(s3_root, process, before)
        time.sleep(rng.uniform(0.0, 1.0))  # while files download, are ingested and uploaded
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=60)
        published.append(len(objects_under_tables(s3_root)))  # every object is whole Parquet
        # A reader at this moment (its own replica of the state) sees only rows the full sync has.
        reader = Lake(s3_root.url, settings=server.settings())
        for key, table in loaded(reader).items():
            assert contained(table, expected[key]), key
    assert kills >= 2, "the sync finished before it could be killed"
    # Kills landed while partitions were being published, not only before or after.
    assert any(0 < n < len(tables(local_root)) for n in published), published

    finish = sync_process(server, s3_root)
    _, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err
    lake = Lake(s3_root.url, settings=server.settings())
    got = loaded(lake)
    assert got.keys() == expected.keys()
    for key, table in got.items():
        assert table.equals(expected[key]), key
    # The same partitions, byte for byte in rows, as the local root's files.
    local_files = tables(local_root)
    remote = objects_under_tables(s3_root)
    assert remote.keys() == local_files.keys()
    assert all(local_files[name].equals(remote[name]) for name in local_files)
    objects.unmount(s3_root.state_dir)
