"""Reading commands never create a lake: a root without `lake.duckdb` (or partitions) is a usage error."""

from __future__ import annotations

from pathlib import Path

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.storage.database import LakeDatabase


def no_lake(root: Path) -> str:
    return f"no lake at {root} (run `binance-lake sync …` first, or pass --root)"


def require_lake(database: LakeDatabase) -> None:
    """Raise a `UsageError` unless the root holds a lake (its database or its partitions)."""
    if not database.path.exists() and not (database.root / TABLES_DIR).is_dir():
        raise UsageError(no_lake(database.root))
