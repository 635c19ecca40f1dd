"""The catalog's entry: the one open step of every writer (`ensure_catalog`), and the old import path of the
catalog's writes, which live in one module per concept: applying a listing or probe result (`diff.py`), the day
index (`day_index.py`), listed ranges (`listed.py`), catalog facts (`meta.py`), exchange symbols
(`exchange.py`). The tables themselves are declared in storage/schema.py.
"""

from __future__ import annotations

# Re-exported (`as`): old imports from here keep working.
from binance_lake.catalog.day_index import index_if_missing as index_if_missing
from binance_lake.catalog.day_index import rebuild_day_index as rebuild_day_index
from binance_lake.catalog.diff import LISTED_SCHEMA as LISTED_SCHEMA
from binance_lake.catalog.diff import CatalogChanges as CatalogChanges
from binance_lake.catalog.diff import Scope as Scope
from binance_lake.catalog.diff import SeenFile as SeenFile
from binance_lake.catalog.diff import apply_seen as apply_seen
from binance_lake.catalog.diff import seen_table as seen_table
from binance_lake.catalog.exchange import EXCHANGE_SCHEMA as EXCHANGE_SCHEMA
from binance_lake.catalog.exchange import apply_exchange_symbols as apply_exchange_symbols
from binance_lake.catalog.listed import record_listed as record_listed
from binance_lake.catalog.meta import set_meta as set_meta
from binance_lake.core.series import SERIES_BY_CODE as SERIES_BY_CODE
from binance_lake.core.series import SERIES_CODE_SPAN as SERIES_CODE_SPAN
from binance_lake.core.series import SERIES_CODES as SERIES_CODES
from binance_lake.core.series import SERIES_FINGERPRINT as SERIES_FINGERPRINT
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.schema import CATALOG_TABLES, CATALOG_VIEWS, ensure_schema

# The catalog's tables and views are declared in storage/schema.py (the one owner of lake.duckdb's schema).
SCHEMA: tuple[str, ...] = (*CATALOG_TABLES, *CATALOG_VIEWS)


def ensure_catalog(database: LakeDatabase) -> None:
    """Bring the lake's schema up to date (every table, storage/schema.py) and the series codes in step with
    the code table (once a process). The one open step of every writer."""
    ensure_schema(database, then=index_if_missing)
