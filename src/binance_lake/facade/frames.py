"""The frame types a reader hands over: pandas (the default), polars or Arrow."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from binance_lake.core.errors import UsageError

Frame = Literal["pandas", "polars", "arrow"]


def convert(table: pa.Table, as_: Frame) -> Any:
    """Hand an Arrow table over in the frame type the caller asked for."""
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    if as_ == "polars":
        import polars as pl  # optional dependency, imported only when asked for

        return pl.from_arrow(table)
    raise UsageError(f"unknown frame type {as_!r}; expected pandas, polars or arrow")
