"""Shared fixtures: the simulator on loopback.

`sim_server` is one SimServer over the small universe (no faults) for the whole session; tests must not
move its clock. `make_sim(**kwargs)` starts a private server (faults, own clock, seed, size) and stops it
after the test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe


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
