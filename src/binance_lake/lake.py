"""The user's API: `Lake(root)` and its `catalog`. Synchronous methods over the async core.

    from binance_lake import Lake
    lake = Lake("~/data/binance-lake")
    lake.catalog.refresh(markets=["um"], datasets=["klines"], intervals=["1h"])
    lake.sync(datasets="klines", intervals="1h", symbols=["BTCUSDT"], start="2024-01-01")
    frame = lake.load("klines", "BTCUSDT", "2024-01-01", "2024-01-31", interval="1h")

A facade assembled from one method group per stage, each a few lines that build the stage's request, run it
and deliver the answer: `sync` (`facade/sync.py`), `update` (`facade/update.py`), the readers `load`,
`load_universe`, `load_aligned`, `resample`, `iter_batches`, `sql`, `status`, `problems` (`facade/reading.py`),
and `catalog`
(`facade/catalog.py`). Settings are resolved once (`facade/base.py`: flag > environment > binance-lake.toml >
default). Methods run their coroutine on a private event loop, so they also work inside Jupyter, whose loop
is already running. A new stage adds its group in `binance_lake.facade` and one base here (`UpdateMethods` is
the readers' base: `load(source="auto")` updates).
"""

from __future__ import annotations

from binance_lake.catalog.request import MAX_PROBE_DAYS, check_days_back
from binance_lake.facade.catalog import LakeCatalog
from binance_lake.facade.cleanup import CleanupMethods
from binance_lake.facade.compact import CompactMethods
from binance_lake.facade.existing import no_lake as no_lake
from binance_lake.facade.export import ExportMethods
from binance_lake.facade.export_postgres import ExportPostgresMethods
from binance_lake.facade.frames import Frame, convert
from binance_lake.facade.loop import run_sync
from binance_lake.facade.quality import QualityMethods
from binance_lake.facade.reading import ReadMethods
from binance_lake.facade.stream import StreamMethods

# Old import paths (`from binance_lake.lake import …`) kept working.
__all__ = ["MAX_PROBE_DAYS", "Frame", "Lake", "LakeCatalog", "check_days_back", "convert", "run_sync"]


class Lake(
    ReadMethods,
    StreamMethods,
    ExportMethods,
    ExportPostgresMethods,
    CleanupMethods,
    QualityMethods,
    CompactMethods,
):
    """A local mirror of Binance market data rooted at one directory.

    `Lake(root=None, *, settings=None)`: the root defaults to the settings' (BINANCE_LAKE_ROOT,
    binance-lake.toml); a root that is not a usable directory is one sentence (`UsageError`)."""

    @property
    def catalog(self) -> LakeCatalog:
        """What the archive holds: refresh, probe, snapshot, timeline, symbols (`facade.catalog`)."""
        return LakeCatalog(self.settings, self.database)
