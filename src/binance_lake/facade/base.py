"""What every group of `Lake` methods stands on: the resolved settings, the lake's database and its root.

`Lake` is assembled from one method group per stage (`facade/sync.py`'s `SyncMethods`, `facade/reading.py`'s
`ReadMethods`, …), each a subclass of `LakeBase`, so a new stage adds its own small group instead of growing
`lake.py`. Settings are resolved once here (flag > environment > binance-lake.toml > default) and the root is
checked once (a bad root is one sentence, never a traceback).
"""

from __future__ import annotations

from pathlib import Path

from binance_lake.core.settings import Settings, check_root, resolve_settings, with_root
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.objects import attach_store


class LakeBase:
    """The state a `Lake` holds: `settings` (resolved once) and `database` (the lake's `lake.duckdb`)."""

    def __init__(self, root: str | Path | None = None, *, settings: Settings | None = None) -> None:
        resolved = settings or resolve_settings()
        if root is not None:
            resolved = with_root(resolved, root)
        check_root(resolved.root)
        # An s3:// root: its partitions, raw zips and reports go to the bucket (storage/objects.py).
        attach_store(resolved.root, resolved.storage)
        self.settings = resolved
        self.database = LakeDatabase(resolved.root)

    @property
    def root(self) -> Path:
        return self.settings.root
