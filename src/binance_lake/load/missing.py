"""What a load asked for but the lake does not hold, and how that travels with the returned frame.

Pure: no I/O. A `Missing` is a tuple of `Gap`s (dataset, interval, symbol, a run of whole UTC days). It rides
on every frame the read side returns, one way for all three frame types:

- pandas and polars: `frame.attrs["missing"]` (polars frames have no metadata of their own, so the loader
  sets an `attrs` dict on the returned frame, mirroring pandas; like pandas' attrs it does not survive
  later transformations);
- Arrow: the schema metadata key `binance_lake.missing` (JSON), which also survives a Parquet write;
- any of the three: `binance_lake.load.missing_of(frame)` returns the `Missing` (empty when complete).

No warning is raised for a partial range: the gap is data the caller can act on (`fill=True` syncs it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from binance_lake.core.errors import UsageError
from binance_lake.core.series_key import merge_spans

Frame = Literal["pandas", "polars", "arrow"]
FRAMES: tuple[str, ...] = ("pandas", "polars", "arrow")
METADATA_KEY = b"binance_lake.missing"
ATTRS_KEY = "missing"


@dataclass(frozen=True, order=True)
class Gap:
    """Whole UTC days `first_day .. last_day` (inclusive) of one series that the lake does not hold."""

    dataset: str
    symbol: str
    first_day: dt.date
    last_day: dt.date
    interval: str | None = None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def __str__(self) -> str:
        series = f"{self.dataset} {self.interval}" if self.interval else self.dataset
        span = str(self.first_day) if self.days == 1 else f"{self.first_day}..{self.last_day}"
        return f"{self.symbol} {series} {span} ({self.days} day{'s' if self.days > 1 else ''})"


@dataclass(frozen=True)
class Missing:
    """Every gap of one load; falsy when the lake held everything asked for."""

    gaps: tuple[Gap, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.gaps)

    def __add__(self, other: Missing) -> Missing:
        return Missing(tuple(sorted({*self.gaps, *other.gaps})))

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({g.symbol for g in self.gaps}))

    @property
    def total_days(self) -> int:
        return sum(g.days for g in self.gaps)

    def days(self, symbol: str | None = None, dataset: str | None = None) -> list[dt.date]:
        """Every missing day, optionally of one symbol and/or dataset, sorted."""
        out: set[dt.date] = set()
        for g in self.gaps:
            if (symbol is None or g.symbol == symbol) and (dataset is None or g.dataset == dataset):
                out.update(g.first_day + dt.timedelta(days=i) for i in range(g.days))
        return sorted(out)

    def summary(self, limit: int = 5) -> str:
        """One line for people: how much is missing, and the first few gaps."""
        if not self.gaps:
            return "nothing missing"
        shown = "; ".join(str(g) for g in self.gaps[:limit])
        more = f"; … {len(self.gaps) - limit} more gaps" if len(self.gaps) > limit else ""
        return (
            f"the lake lacks {self.total_days} symbol-days in {len(self.gaps)} gap(s) "
            f"for {', '.join(self.symbols)}: {shown}{more}"
        )

    def to_json(self) -> str:
        return json.dumps(
            [
                {
                    "dataset": g.dataset,
                    "interval": g.interval,
                    "symbol": g.symbol,
                    "first_day": g.first_day.isoformat(),
                    "last_day": g.last_day.isoformat(),
                }
                for g in self.gaps
            ]
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Missing:
        return cls(
            tuple(
                Gap(
                    dataset=item["dataset"],
                    symbol=item["symbol"],
                    first_day=dt.date.fromisoformat(item["first_day"]),
                    last_day=dt.date.fromisoformat(item["last_day"]),
                    interval=item["interval"],
                )
                for item in json.loads(text)
            )
        )


def runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days folded into (first, last) runs: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    return [(span.first, span.last) for span in merge_spans((day, day) for day in days)]


def check_frame(as_: str) -> Frame:
    if as_ not in FRAMES:
        raise UsageError(f"unknown frame type {as_!r}; expected pandas, polars or arrow")
    return as_  # type: ignore[return-value]


def deliver(table: pa.Table, missing: Missing, as_: str) -> Any:
    """Hand `table` over as the frame type asked for, carrying `missing` (see the module docstring)."""
    frame = check_frame(as_)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = missing.to_json().encode()
    table = table.replace_schema_metadata(metadata)
    if frame == "arrow":
        return table
    if frame == "pandas":
        out = table.to_pandas()
        out.attrs[ATTRS_KEY] = missing
        return out
    import polars as pl  # optional dependency, imported only when asked for

    result = pl.from_arrow(table)
    result.attrs = {ATTRS_KEY: missing}  # type: ignore[union-attr]
    return result


def missing_of(frame: Any) -> Missing:
    """The `Missing` a loaded pandas / polars / Arrow frame carries (empty when it carries none)."""
    if isinstance(frame, pa.Table):
        raw = (frame.schema.metadata or {}).get(METADATA_KEY)
        return Missing.from_json(raw) if raw else Missing()
    attrs = getattr(frame, "attrs", None)
    if isinstance(attrs, dict):
        value = attrs.get(ATTRS_KEY)
        if isinstance(value, Missing):
            return value
    return Missing()
