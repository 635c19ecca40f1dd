"""`Lake`, the user's API: its keyword vocabulary (plural keywords take lists, old spellings still work with a
DeprecationWarning for one release, every catalog query answers with a frame), and input the CLI also
passes through: empty symbol lists, probe bounds, missing lakes, impossible roots and the query sandbox."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer


@pytest.fixture(scope="module")
def lake(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(settings=sim_server.settings(tmp_path_factory.mktemp("lake")))
    lake.catalog.refresh(
        markets="um,cm", datasets="fundingRate", symbols="BTCUSDT,BTCUSD_PERP", exchange_info=False
    )
    return lake


def test_catalog_keywords_take_several_markets(lake: Lake) -> None:
    both = lake.catalog.snapshot("2023-08-15", markets=["um", "cm"], datasets="fundingRate")
    assert set(both["market"]) == {"um", "cm"}
    assert set(lake.catalog.snapshot("2023-08-15", markets="um")["market"]) == {"um"}
    assert set(lake.catalog.symbols(markets="um,cm")["market"]) == {"um", "cm"}
    assert set(lake.catalog.earliest(markets=("cm",), datasets=["fundingRate"])["symbol"]) == {"BTCUSD_PERP"}
    assert set(lake.catalog.range("2023-08-01", "2023-08-31", markets=["um", "cm"])["market"]) == {"um", "cm"}


def test_old_singular_keywords_still_work_with_a_deprecation_warning(lake: Lake) -> None:
    new = lake.catalog.snapshot("2023-08-15", markets="um", datasets="fundingRate")
    with pytest.warns(DeprecationWarning, match=r"keyword (market|dataset)= is now \1s=") as caught:
        old = lake.catalog.snapshot("2023-08-15", market="um", dataset="fundingRate")
    assert len(caught) == 2
    assert old.equals(new)
    with pytest.warns(DeprecationWarning, match="market= is now markets="):
        assert lake.catalog.symbols(market="cm")["symbol"].tolist() == ["BTCUSD_PERP"]
    with pytest.raises(UsageError, match="not also its old spelling"), pytest.warns(DeprecationWarning):
        lake.catalog.earliest(markets="um", market="cm")


def test_timeline_is_a_frame_like_the_other_queries(lake: Lake) -> None:
    frame = lake.catalog.timeline("btcusdt", markets="um")
    assert isinstance(frame, pd.DataFrame)
    assert frame[["market", "dataset", "symbol"]].values.tolist() == [["um", "fundingRate", "BTCUSDT"]]
    assert frame["available_days"].iloc[0] > 0
    arrow = lake.catalog.timeline("BTCUSDT", markets="um", as_="arrow")
    assert isinstance(arrow, pa.Table) and arrow.to_pandas().equals(frame)


def test_sync_refresh_keyword_and_its_old_spelling(lake: Lake) -> None:
    args = {"datasets": "fundingRate", "symbols": "BTCUSDT", "start": "2023-08-01", "end": "2023-08-31"}
    assert lake.sync(**args, refresh=False).ok  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match="refresh_catalog= is now refresh="):
        report = lake.sync(**args, refresh_catalog=False)  # type: ignore[arg-type]
    assert report.ok and report.refresh is None  # not refreshed, as asked


@pytest.mark.parametrize("symbols", [[], (), "", ",,", " ", [" ", ""]])
def test_sync_with_an_explicitly_empty_symbol_list_is_refused(
    sim_server: SimServer, tmp_path: Path, symbols: object
) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    with pytest.raises(UsageError, match="no symbols given"):
        lake.sync(datasets="fundingRate", symbols=symbols, start="2026-09-01", end="2026-09-30", dry_run=True)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no symbols given"):
        lake.catalog.refresh(markets="um", datasets="fundingRate", symbols=symbols)  # type: ignore[arg-type]


def test_sync_with_symbols_none_still_means_every_symbol(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    lake.catalog.refresh(markets="um", datasets="fundingRate", exchange_info=False)  # a dry run lists nothing
    report = lake.sync(
        datasets="fundingRate", symbols=None, start="2026-09-01", end="2026-09-30", dry_run=True
    )
    assert len(report.symbols) > 3


@pytest.mark.parametrize("days_back", [0, 3661, 100_000])
def test_probe_days_back_is_bounded(tmp_path: Path, days_back: int) -> None:
    with pytest.raises(UsageError, match="--days-back must be between 1 and 3660"):
        Lake(tmp_path).catalog.probe("2026-11-19", days_back=days_back)


def test_reading_a_missing_lake_is_a_usage_error_and_creates_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "nowhere")
    for read in (lake.status, lake.problems, lambda: lake.sql("SELECT 1"), lake.catalog.symbols):
        with pytest.raises(UsageError, match="no lake at"):
            read()
    assert not (tmp_path / "nowhere").exists()


def test_an_impossible_root_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        Lake(tmp_path / "file")
    with pytest.raises(UsageError, match="kernel file system"):
        Lake("/proc/lake")
