"""The simulator's ground truth for tests: every visible object, the symbols and their lives, where each
quirk was placed, the maintenance windows, the missing days and the non-dataset keys, at the clock's now.

Objects are listed lazily (`keys()` is arithmetic; `objects()` renders what it must for exact sizes), so a
manifest is cheap to build even for the medium universe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Market
from binance_lake.sim import placement
from binance_lake.sim.bucket import Bucket, ObjectMeta, served_key
from binance_lake.sim.listing import Tree
from binance_lake.sim.market_model import MAINTENANCE_WINDOWS
from binance_lake.sim.universe import Universe

# Rules that hold for every file they concern (tests check them on samples), by quirk name.
RULES: dict[str, str] = {
    "futures_header_cutover": "UM klines-family files from 2022-05, UM trades/aggTrades from 2022-08-11, CM "
    "from 2023-10 carry a header; older ones do not (#177, #246, #267, #278)",
    "spot_never_header": "spot files never have a header (#283)",
    "spot_microseconds": "spot epoch columns are microseconds from 2025-01-01 (#386)",
    "booleans": "futures write true/false, spot True/False",
    "text_datetimes": "metrics.create_time and bookDepth.timestamp are 'YYYY-MM-DD HH:MM:SS'",
    "cm_metrics_blanks": 'CM metrics leave the top-trader and account ratios as "" ',
    "liquidation_rows_twice": "every liquidationSnapshot row appears twice (#259, #337)",
    "um_metrics_end_labels": "UM metrics before 2026-06-25 label rows 00:05 ... 00:00 next day (#491)",
    "old_spot_checksum_no_newline": "spot monthly .CHECKSUMs before 2018-01 lack the trailing newline (#241)",
    "intervals": "most symbols offer 1m, 5m, 1h, 1d (1m files from 2022-01); BTCUSDT spot and UM offer every "
    "interval (spot 1s from 2026-11-01); delivery contracts 1h, 1d; medium/large generated symbols 1h, 1d",
    "bvol_every_10s": "BVOLIndex has one row every 10 s (Binance: ~1 s), to keep files small",
}


@dataclass(frozen=True)
class SymbolInfo:
    market: Market
    symbol: str
    listed: dt.date
    delisted: dt.date | None
    settled: bool
    delivery: bool
    status: str


class Manifest:
    def __init__(self, universe: Universe, bucket: Bucket | None = None) -> None:
        self.universe = universe
        self.bucket = bucket or Bucket(universe)
        self.now = universe.clock.now()

    def symbols(self, market: Market) -> list[SymbolInfo]:
        return [
            SymbolInfo(s.market, s.symbol, s.listed, s.delisted, s.settled, s.is_delivery, s.status(self.now))
            for s in self.universe.symbols(market)
        ]

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every visible key starting with `prefix`, in S3 order (no rendering)."""
        tree = Tree(self.bucket, self.now)
        directory = prefix[: prefix.rfind("/") + 1]
        for key in tree.iter_keys(directory, ""):
            if key.startswith(prefix):
                yield key
            elif key > prefix:
                return

    def objects(self, prefix: str = "") -> Iterator[ObjectMeta]:
        for key in self.keys(prefix):
            meta = self.bucket.head(key, self.now)
            if meta is not None:
                yield meta

    def _visible(self, files: object) -> list[str]:
        assert isinstance(files, (set, frozenset, dict, list, tuple))
        keys: list[str] = []
        for file in files:
            assert isinstance(file, ArchiveFile)
            if self.bucket.visible_file(file, self.now):
                keys.append(served_key(file))
        return sorted(keys)

    @property
    def quirks(self) -> dict[str, list[str]]:
        """Quirk name -> the keys that carry it (visible now, in this universe)."""
        missing = sorted(f.key for f in placement.MISSING_FILES if self.universe.symbol(f.market, f.symbol))
        return {
            "missing_daily_files": missing,
            "late_uploads": sorted(
                f.key for f in placement.LATE_FILES if self.universe.symbol(f.market, f.symbol)
            ),
            "reuploaded": self._visible(placement.REUPLOADS),
            "checksum_mismatch": self._visible(placement.WRONG_CHECKSUMS),
            "truncated_checksum_ok": self._visible(placement.TRUNCATED),
            "duplicated_rows": self._visible(placement.DUPLICATED),
            "unordered_rows": self._visible(placement.UNORDERED),
            "header_forced": self._visible(placement.HEADER_FORCED),
            "header_dropped": self._visible(placement.HEADER_DROPPED),
            "unpadded_month_no_checksum": self._visible({placement.UNPADDED_MONTH}),
            "empty_name_directory": [placement.EMPTY_NAME_DIRECTORY_KEY],
        }

    @property
    def reuploads(self) -> dict[str, dt.datetime]:
        return {f.key: moment for f, moment in placement.REUPLOADS.items()}

    @property
    def maintenance_windows(self) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        return MAINTENANCE_WINDOWS

    @property
    def non_dataset_keys(self) -> list[str]:
        return sorted(placement.NON_DATASET_OBJECTS)

    def summary(self) -> dict[str, object]:
        """A JSON-able summary (served at /__sim__/manifest)."""
        return {
            "now": self.now.isoformat(),
            "seed": self.universe.seed,
            "size": self.universe.size,
            "symbols": {
                m.value: [
                    {
                        "symbol": s.symbol,
                        "listed": s.listed.isoformat(),
                        "delisted": s.delisted and s.delisted.isoformat(),
                        "settled": s.settled,
                        "delivery": s.delivery,
                        "status": s.status,
                    }
                    for s in self.symbols(m)
                ]
                for m in Market
            },
            "quirks": self.quirks,
            "rules": RULES,
            "maintenance_windows": [[b.isoformat(), e.isoformat()] for b, e in MAINTENANCE_WINDOWS],
            "non_dataset_keys": self.non_dataset_keys,
        }
