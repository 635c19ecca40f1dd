"""`Lake.compact`: write each closed year of the bar-like partitions as one memory-mapped Arrow file
(`storage.compaction`), which `Lake.load` and `load_universe` then read instead of twelve Parquet files while the
partitions are unchanged. Under the writer lock, so it never competes with a sync for the same files."""

from __future__ import annotations

import datetime as dt

from binance_lake.core.choices import Names
from binance_lake.core.datasets import DATASETS, Granularity, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.facade.base import LakeBase
from binance_lake.facade.existing import require_lake
from binance_lake.storage.compaction import COMPRESSIONS, CompactReport, Compression, compact_lake
from binance_lake.storage.database import WriterLock


def compact_datasets(datasets: Names) -> list[str]:
    """The datasets to compact: the named ones (each bar-like: a partition a month), or every bar-like one."""
    if datasets is None:
        return [name for name, spec in DATASETS.items() if spec.granularity is Granularity.MONTH]
    names = split_list(datasets) if isinstance(datasets, str) else list(datasets)
    chosen = []
    for name in names:
        spec = get_dataset(name)
        if spec.granularity is not Granularity.MONTH:
            raise UsageError(
                f"{spec.name} is stored a file a day, which compact leaves as it is; it compacts the datasets "
                "stored a file a month (klines and the other bars, fundingRate, ...)"
            )
        chosen.append(spec.name)
    return chosen


class CompactMethods(LakeBase):
    """`Lake.compact`."""

    def compact(
        self, *, datasets: Names = None, compression: str = "none", force: bool = False
    ) -> CompactReport:
        """Write every closed year of `datasets` (default: all stored a file a month) as one Arrow IPC file
        under `compacted/` (`compression` none, lz4 or zstd; none is read without a copy); a year already
        compacted from the same partitions is left alone unless `force`. Partitions stay the truth: a year
        whose partitions changed since is read from them until the next compact."""
        if compression not in COMPRESSIONS:
            raise UsageError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
        chosen = compact_datasets(datasets)
        require_lake(self.database)
        if self.settings.storage.url is not None:
            # Compacted years are local memory-mapped files made from partitions on the same disk; an
            # object-storage lake's partitions are objects (storage/objects.py), read over the network anyway.
            raise UsageError(
                f"compact does not apply to a lake on object storage ({self.settings.storage.url})"
            )
        codec: Compression = "lz4" if compression == "lz4" else "zstd" if compression == "zstd" else "none"
        with WriterLock(self.root):
            return compact_lake(
                self.root, chosen, today=dt.datetime.now(dt.UTC).date(), compression=codec, force=force
            )
