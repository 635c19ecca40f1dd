"""Shared fixtures: the simulator on loopback.

`sim_server` is one SimServer over the small universe (no faults) for the whole session; tests must not
move its clock. `make_sim(**kwargs)` starts a private server (faults, own clock, seed, size) and stops it
after the test.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from tests.s3_server import moto_s3, s3_root  # noqa: F401 - fixtures: moto's S3 server, an s3:// lake root

# Tests that start the CLI in a subprocess must run this tree's source, not whichever tree the venv's editable
# install points at (a git worktree shares the venv of its main checkout).
_SOURCE = str(Path(__file__).resolve().parents[1] / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_SOURCE, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _SOURCE)]
)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    with SimServer(Universe.build("small")) as server:
        yield server


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def make(
        *, size: str = "small", seed: int = 7, now: dt.datetime | None = None, faults: str | None = None
    ) -> SimServer:
        server = SimServer(Universe.build(size, seed=seed, now=now), faults).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
