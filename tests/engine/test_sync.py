"""`SyncReport`: a short repr (market, datasets, counts, ok), never the plan's every file."""

from __future__ import annotations

from pathlib import Path

from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer


def test_repr_is_a_short_summary_not_the_plan(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    report = lake.sync(
        datasets="klines,fundingRate",
        symbols="BTCUSDT,ETHUSDT",
        intervals="1h",
        start="2023-08-01",
        end="2023-11-30",
    )
    assert report.ok and len(report.plan.fetch) >= 16
    text = repr(report)
    assert len(text) < 400, text
    assert text.startswith("SyncReport(market='um', datasets=['klines', 'fundingRate'], intervals=['1h']")
    assert "symbols=2" in text and f"planned={len(report.plan.fetch)}" in text
    assert f"ingested={len(report.plan.fetch)}, failed=0" in text and text.endswith("ok=True)")
    assert report.plan.fetch[0].key not in text
    dry = lake.sync(datasets="klines", symbols="BTCUSDT", intervals="1h", start="2023-08-01", dry_run=True)
    assert "not executed" in repr(dry) and "dry_run=True" in repr(dry)
