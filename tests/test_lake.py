"""`Lake`, the user's API, on input the CLI also passes through: empty symbol lists, probe bounds, missing
lakes, impossible roots and the query sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer


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
