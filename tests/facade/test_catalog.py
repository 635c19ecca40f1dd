"""`Lake.catalog`'s held answers: a repeated query is answered without asking DuckDB again, and a catalog
change (a refresh of this process) is seen by the next call."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer


def test_repeated_queries_are_held_and_a_refresh_is_seen(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    lake.catalog.refresh(markets="um", datasets="fundingRate", symbols="BTCUSDT", exchange_info=False)
    first = lake.catalog.snapshot("2023-08-15", markets="um", as_="arrow")
    assert lake.catalog.snapshot("2023-08-15", markets="um", as_="arrow") is first  # held, not queried
    assert set(first.column("symbol").to_pylist()) == {"BTCUSDT"}
    timeline = lake.catalog.timeline("BTCUSDT", markets="um", as_="arrow")
    assert lake.catalog.timeline("BTCUSDT", markets="um", as_="arrow").equals(timeline)
    with pytest.raises(UsageError, match="unknown symbol ETHUSDT"):
        lake.catalog.timeline("ETHUSDT", markets="um")

    lake.catalog.refresh(markets="um", datasets="fundingRate", symbols="ETHUSDT", exchange_info=False)
    after = lake.catalog.snapshot("2023-08-15", markets="um", as_="arrow")
    assert set(after.column("symbol").to_pylist()) == {"BTCUSDT", "ETHUSDT"}
    assert lake.catalog.timeline("ETHUSDT", markets="um", as_="arrow").num_rows == 1
    # a pandas answer is a new frame each call, so a caller's edits never reach the next caller
    frame = lake.catalog.snapshot("2023-08-15", markets="um")
    frame.loc[0, "symbol"] = "CHANGED"
    assert "CHANGED" not in set(lake.catalog.snapshot("2023-08-15", markets="um")["symbol"])


def test_held_frames_are_the_callers_own(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    lake.catalog.refresh(markets="um", datasets="fundingRate", symbols="BTCUSDT", exchange_info=False)
    first = lake.catalog.timeline("BTCUSDT", markets="um", as_="polars")
    first[0, "symbol"] = "CHANGED"
    assert lake.catalog.timeline("BTCUSDT", markets="um", as_="polars")[0, "symbol"] == "BTCUSDT"
    frame = lake.catalog.timeline("BTCUSDT", markets="um")
    frame.loc[0, "files"] = -1
    assert lake.catalog.timeline("BTCUSDT", markets="um").loc[0, "files"] > 0
