"""Which symbols an export covers when the user says `--all`: the symbols the lake holds for the series in the
range, delisted ones only with `include_delisted` (for a survivorship-free dataset).

A symbol counts as delisted when the catalog's life span of the series (archive files, narrowed by
exchangeInfo's delivery date) ends before the latest day any symbol of the series has files for: the archive
stops publishing a delisted contract's files while the others go on. A lake whose catalog never listed the
series knows no life spans, and then every held symbol is kept.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.catalog.reads import life_spans
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.state_reads import ingested_symbols


def held_symbols(
    root: Path,
    market: Market,
    dataset: str,
    interval: Interval | None,
    first: dt.date,
    last: dt.date,
    *,
    include_delisted: bool,
) -> tuple[str, ...]:
    """The held symbols of one series with a day in `first .. last`, in name order (see the docstring)."""
    name = interval.value if interval is not None else None
    with LakeDatabase(root).connect(read_only=True) as connection:
        held = ingested_symbols(connection, market, dataset, name, first, last)
        spans = life_spans(connection, market, dataset, name) if held else {}
    if not held:
        what = f"{dataset} {name}" if name else dataset
        raise UsageError(
            f"the lake holds no {market.value} {what} between {first} and {last}; sync some first "
            f"(binance-lake sync --market {market.value} --datasets {dataset}"
            f"{f' --intervals {name}' if name else ''} --all --start {first} --end {last})"
        )
    if include_delisted or not spans:
        return tuple(sorted(held))
    ends = [end for _, end in spans.values() if end is not None]
    latest = max(ends) if ends else None
    kept = [s for s in held if latest is None or (spans.get(s, (None, None))[1] or latest) >= latest]
    return tuple(sorted(kept))
