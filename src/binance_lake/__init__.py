"""binance-lake: a local, verified, queryable mirror of Binance market data.

from binance_lake import Lake
lake = Lake()                      # root from settings (BINANCE_LAKE_ROOT, binance-lake.toml)

`__all__` is the public API: the `Lake`, the values its methods return (reports, `Missing`, the stream of
`Batches`), the settings, and the errors and warning a caller catches. Everything else is internal and may
move between releases.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from binance_lake.core.errors import (
    BinanceLakeError,
    IntegrityError,
    LakeLocked,
    MissingDataWarning,
    PostgresError,
    Restricted,
    SchemaTooNew,
    SourceError,
    Stalled,
    StorageError,
    UsageError,
)
from binance_lake.core.progress import Phase, ProgressEvent, ProgressSink
from binance_lake.core.settings import Settings, resolve_settings

if TYPE_CHECKING:
    from binance_lake.catalog.probe import ProbeReport
    from binance_lake.catalog.refresh import RefreshReport
    from binance_lake.engine.sync import SyncReport
    from binance_lake.engine.update import UpdateReport
    from binance_lake.export.postgres.export import PostgresExportReport
    from binance_lake.export.sink import ExportReport
    from binance_lake.lake import Lake
    from binance_lake.load.missing import Gap, Missing, missing_of
    from binance_lake.load.stream import Batches
    from binance_lake.quality.health import Health
    from binance_lake.quality.run import CheckReport

__all__ = [
    "Batches",
    "BinanceLakeError",
    "CheckReport",
    "ExportReport",
    "Gap",
    "Health",
    "IntegrityError",
    "Lake",
    "LakeLocked",
    "Missing",
    "MissingDataWarning",
    "Phase",
    "PostgresError",
    "PostgresExportReport",
    "ProbeReport",
    "ProgressEvent",
    "ProgressSink",
    "RefreshReport",
    "Restricted",
    "SchemaTooNew",
    "Settings",
    "SourceError",
    "Stalled",
    "StorageError",
    "SyncReport",
    "UpdateReport",
    "UsageError",
    "__version__",
    "missing_of",
    "resolve_settings",
]

__version__ = "0.1.0"

# These pull in aiohttp, DuckDB or pyarrow: they are imported only when first asked for, so `import
# binance_lake` (and the pure core, and the simulator) stays light.
_LAZY = {
    "Lake": "binance_lake.lake",
    "SyncReport": "binance_lake.engine.sync",
    "UpdateReport": "binance_lake.engine.update",
    "RefreshReport": "binance_lake.catalog.refresh",
    "ProbeReport": "binance_lake.catalog.probe",
    "Gap": "binance_lake.load.missing",
    "Missing": "binance_lake.load.missing",
    "missing_of": "binance_lake.load.missing",
    "Batches": "binance_lake.load.stream",
    "ExportReport": "binance_lake.export.sink",
    "PostgresExportReport": "binance_lake.export.postgres.export",
    "CheckReport": "binance_lake.quality.run",
    "Health": "binance_lake.quality.health",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'binance_lake' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
