"""load_universe's members against the simulator: every symbol that traded on any day of the window, by the rule
`sync --all` uses, whatever the catalog was listed for before."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.load.connection import LakeState
from binance_lake.load.request import build_request
from binance_lake.load.universe import _catalog_spans
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from tests.engine.test_sync_catalog_sim import D, all_request, listed_for, traded, windows


def members(root: Path, first: D, last: D) -> set[str]:
    """The symbols load_universe takes for um klines 1d over `first .. last`."""
    probe = build_request("klines", ["X"], first, last, market="um", interval="1d")  # dates: both included
    with LakeState(root) as state:
        return set(state.ask(("t", first, last), lambda h, a, t: _catalog_spans(h, a, t, probe)))


def test_members_are_those_that_traded_in_the_window(sim_server: SimServer, tmp_path: Path) -> None:
    """XEMUSDT's October monthly file covers the 25th, its daily files stop on the 19th (its delisting);
    CVCUSDTSETTLED holds settlement days, not trading; BTCUSDT_230929 traded until its delivery."""
    database = LakeDatabase(tmp_path)
    for first, last in ((D(2023, 10, 25), D(2023, 10, 31)), (D(2023, 5, 15), D(2023, 5, 17))):
        listed_for(sim_server, database, all_request(first, last))
        got = members(tmp_path, first, last)
        assert got == traded(sim_server, first, last)
    assert "XEMUSDT" not in members(tmp_path, D(2023, 10, 25), D(2023, 10, 31))
    assert "CVCUSDTSETTLED" not in members(tmp_path, D(2023, 5, 15), D(2023, 5, 17))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(windows, min_size=0, max_size=2), asked=windows)
def test_members_whatever_was_listed_before(
    sim_server: SimServer, history: list[tuple[D, D]], asked: tuple[D, D]
) -> None:
    with tempfile.TemporaryDirectory() as root:
        database = LakeDatabase(Path(root))
        for first, last in [*history, asked]:
            listed_for(sim_server, database, all_request(first, last))
        assert members(Path(root), *asked) == traded(sim_server, *asked)
