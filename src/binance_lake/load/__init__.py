"""The read side of the lake: load, load_universe, load_aligned, resample, sql and status.

Everything here reads Parquet partitions and the lake database; nothing writes. `Lake` (lake.py) exposes each
function as a method; `missing_of(frame)` tells what a loaded frame lacks (see `load.missing`).
"""

from binance_lake.load.missing import Gap, Missing, missing_of

__all__ = ["Gap", "Missing", "missing_of"]
