"""binance-lake: a local, verified, queryable mirror of Binance market data.

from binance_lake import Lake
lake = Lake()                      # root from settings (BINANCE_LAKE_ROOT, binance-lake.toml)
"""

from __future__ import annotations

from binance_lake.core.errors import BinanceLakeError, UsageError
from binance_lake.core.settings import Settings, resolve_settings

__all__ = ["BinanceLakeError", "Lake", "Settings", "UsageError", "__version__", "resolve_settings"]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `Lake` pulls in aiohttp, DuckDB and pyarrow; import it only when asked for, so the pure core and the
    # simulator stay light to import.
    if name == "Lake":
        from binance_lake.lake import Lake

        return Lake
    raise AttributeError(f"module 'binance_lake' has no attribute {name!r}")
