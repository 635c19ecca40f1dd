"""`kill -9` during `update`, then `update` again: the same rows, bar for bar, as an uninterrupted update, and
the same day provenance (nothing lost, nothing duplicated, no provisional day forgotten)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from binance_lake import Lake
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.timerange import UTC
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import held_days

NOW = dt.datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
SYMBOLS = "BTCUSDT,ETHUSDT"
KILL_AT = (0.3, 0.6, 0.9)  # shares of an uninterrupted update's time: the archive sync, then the REST fill


def _update(server: SimServer, root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "update", "--format", "json"],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **server.settings_env(),
            "BINANCE_LAKE_ROOT": str(root),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rows(root: Path) -> dict[str, pa.Table]:
    return {
        str(p.relative_to(root)): pq.read_table(p) for p in sorted((root / TABLES_DIR).rglob("*.parquet"))
    }


def _same(found: dict[str, pa.Table], expected: dict[str, pa.Table]) -> bool:
    return found.keys() == expected.keys() and all(found[k].equals(expected[k]) for k in expected)


def _days(root: Path) -> list[tuple[object, ...]]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        found: list[tuple[object, ...]] = []
        for dataset, interval in (("klines", "1m"), ("klines", "1s")):
            market = "spot" if interval == "1s" else "um"
            found.extend(
                (market, h.dataset, h.interval, h.symbol, h.day, h.source.value, h.rows)
                for h in held_days(
                    connection,
                    market=market,
                    dataset=dataset,
                    interval=interval,
                    symbols=SYMBOLS.split(","),
                    first=dt.date(2026, 1, 1),
                    last=dt.date(2026, 12, 31),
                )
            )
    return found


@pytest.mark.slow
def test_kill_9_during_update_then_update_again_gives_the_same_rows(tmp_path: Path) -> None:
    with SimServer(Universe.build("small", now=NOW)) as server:
        base = tmp_path / "base"
        base.mkdir()
        lake = Lake(base, settings=server.settings(base))
        # Held to 11-17: the update syncs 11-18 and 11-19 from the archive and fetches 11-20 from REST,
        # 1s spot bars included (50 000 bars: many pages, so a kill lands inside the REST fill).
        assert lake.sync(
            datasets="klines", intervals="1m", symbols=SYMBOLS, start="2026-11-16", end="2026-11-17"
        ).ok
        assert lake.sync(
            market="spot",
            datasets="klines",
            intervals="1s",
            symbols="BTCUSDT",
            start="2026-11-17",
            end="2026-11-17",
        ).ok
        reference = tmp_path / "reference"
        shutil.copytree(base, reference)
        started = time.monotonic()
        assert Lake(reference, settings=server.settings(reference)).update().ok
        took = time.monotonic() - started
        print(f"uninterrupted update: {took:.1f} s")
        expected_rows, expected_days = _rows(reference), _days(reference)
        assert any(source == "rest" for *_, source, _ in expected_days)
        for n, share in enumerate(KILL_AT):
            delay = 1.0 + share * took  # the subprocess needs about a second to import before it starts
            root = tmp_path / f"killed-{n}"
            shutil.copytree(base, root)
            process = _update(server, root)
            time.sleep(delay)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                print(f"killed after {delay:.1f} s")
            process.communicate(timeout=60)
            assert Lake(root, settings=server.settings(root)).update().ok
            assert _same(_rows(root), expected_rows), f"killed after {delay} s"
            assert _days(root) == expected_days, f"killed after {delay} s"
