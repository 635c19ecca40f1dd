"""One simulator lake shared by the export tests (synced once per session): hourly, minute and daily bars of
BTCUSDT, ETHUSDT and XEMUSDT (delisted on 2023-10-19) around that delisting, and a day of aggTrades."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from tests.engine.test_sync_sim import lake_on

SYMBOLS = ("BTCUSDT", "ETHUSDT", "XEMUSDT")
DELISTED = "XEMUSDT"
FIRST, LAST = dt.date(2023, 10, 15), dt.date(2023, 10, 24)
MINUTES = (dt.date(2023, 10, 18), dt.date(2023, 10, 21))


@pytest.fixture(scope="session")
def export_lake(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = lake_on(sim_server, tmp_path_factory.mktemp("export") / "lake")

    def sync(
        intervals: str | None, symbols: str, first: dt.date, last: dt.date, dataset: str = "klines"
    ) -> None:
        report = lake.sync(
            datasets=dataset, intervals=intervals, symbols=symbols, start=str(first), end=str(last)
        )
        assert report.ok

    sync("1h", ",".join(SYMBOLS), FIRST, LAST)
    sync("1d", ",".join(SYMBOLS), FIRST, LAST)
    sync("1m", ",".join(SYMBOLS), *MINUTES)
    sync(None, "BTCUSDT", dt.date(2023, 10, 16), dt.date(2023, 10, 16), dataset="aggTrades")
    return lake


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "qlib"
