"""Which symbols an export covers when the user says `--all`: the symbols the lake holds for the series in the
range, delisted ones only with `include_delisted` (for a survivorship-free dataset).

A held symbol counts as delisted when its last stored day with rows (day_provenance, up to the range's last
day) comes before the latest such day of any held symbol of the series: a delisted contract's bars stop
while the others' go on (its month's file records the later days with 0 rows). The catalog's life spans
cannot tell, since a monthly file spans the whole month. A lake without day provenance keeps every symbol.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import has_day_provenance, last_days_with_rows
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
        lasts = (
            last_days_with_rows(
                connection,
                market=market.value,
                dataset=dataset,
                interval=name,
                symbols=sorted(held),
                last=last,
            )
            if held and not include_delisted and has_day_provenance(connection)
            else {}
        )
    if not held:
        what = f"{dataset} {name}" if name else dataset
        raise UsageError(
            f"the lake holds no {market.value} {what} between {first} and {last}; sync some first "
            f"(binance-lake sync --market {market.value} --datasets {dataset}"
            f"{f' --intervals {name}' if name else ''} --all --start {first} --end {last})"
        )
    if not lasts:
        return tuple(sorted(held))
    latest = max(lasts.values())
    return tuple(sorted(s for s in held if lasts.get(s, latest) >= latest))
