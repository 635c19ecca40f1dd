"""`Lake.cleanup`: remove what the lake no longer needs (`engine.cleanup`), under the writer lock so no sync
writes meanwhile; a dry run only looks, and takes no lock."""

from __future__ import annotations

from binance_lake.engine.cleanup import CleanupReport, cleanup
from binance_lake.facade.base import LakeBase
from binance_lake.facade.existing import require_lake
from binance_lake.storage.database import WriterLock


class CleanupMethods(LakeBase):
    """`Lake.cleanup`."""

    def cleanup(self, *, dry_run: bool = False, raw: bool = False) -> CleanupReport:
        """Remove daily zips superseded by a monthly file and stale temporaries, and with `raw` the raw zips of
        ingested files too; `dry_run` only lists them. On an s3:// lake they are deleted in the bucket, with
        the partition objects no record names (a killed upload's). The report says what was (or would be) freed."""
        require_lake(self.database)
        if dry_run:
            return cleanup(self.database, raw=raw, dry_run=True)
        with WriterLock(self.root):
            return cleanup(self.database, raw=raw)
