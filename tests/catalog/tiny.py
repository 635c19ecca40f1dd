"""A tiny simulated universe for catalog tests: a few symbols over a few weeks, small enough to list every
market in a second, yet with a delisted perpetual, a `...SETTLED` symbol, a delivery contract, a late upload
(SOLUSDT 1h 2026-11-17, issue #150), the empty-name directory and a stray `.tmp` key."""

from __future__ import annotations

from pathlib import Path

from binance_lake.core.archive import ArchiveFile, NotADatasetFile, ParsedKey, parse_key
from binance_lake.sim.bucket import ObjectMeta
from binance_lake.sim.manifest import Manifest

ROSTER = """
[[symbols]]
market = "um"
symbol = "BTCUSDT"
listed = "2026-10-01"
datasets = ["klines", "fundingRate"]
intervals = ["1h", "1d"]

[[symbols]]
market = "um"
symbol = "SOLUSDT"
listed = "2026-10-10"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "um"
symbol = "XEMUSDT"
listed = "2026-09-20"
delisted = "2026-10-19"
datasets = ["klines"]
intervals = ["1h", "1d"]

[[symbols]]
market = "um"
symbol = "CVCUSDTSETTLED"
listed = "2026-10-20"
delisted = "2026-10-22"
datasets = ["klines"]
intervals = ["1h"]

[[symbols]]
market = "um"
symbol = "BTCUSDT_261225"
listed = "2026-09-26"
delisted = "2026-12-25"
contract_type = "CURRENT_QUARTER"
datasets = ["klines"]
intervals = ["1d"]

[[symbols]]
market = "cm"
symbol = "BTCUSD_PERP"
listed = "2026-10-01"
datasets = ["klines"]
intervals = ["1d"]

[[symbols]]
market = "spot"
symbol = "BTCUSDT"
listed = "2026-10-01"
datasets = ["klines"]
intervals = ["1d"]
"""


def roster_file(directory: Path) -> str:
    path = directory / "tiny.toml"
    path.write_text(ROSTER, encoding="utf-8")
    return str(path)


def truth_objects(
    manifest: Manifest, prefix: str = "data/"
) -> dict[str, tuple[ArchiveFile | None, ObjectMeta]]:
    """Every object the simulator serves under `prefix` (HEAD answers 200), with its file when it is a dataset
    key: the ground truth a refresh must reproduce. (`Manifest.keys` alone also names files whose upload
    is still pending, such as a late upload.)"""
    truth: dict[str, tuple[ArchiveFile | None, ObjectMeta]] = {}
    for meta in manifest.objects(prefix):
        parsed = parse_key(meta.key)
        truth[meta.key] = (parsed.file if isinstance(parsed, ParsedKey) else None, meta)
    return truth


def truth_other(manifest: Manifest, prefix: str = "data/") -> set[str]:
    return {meta.key for meta in manifest.objects(prefix) if isinstance(parse_key(meta.key), NotADatasetFile)}
