"""`fill=True` of the readers: sync what a read lacks, then the reader reads again.

`sync` is the `Lake.sync` of the caller, called with keywords, so a fill is exactly the sync a user would run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from binance_lake.core.errors import MissingDataWarning
from binance_lake.core.timerange import DateLike
from binance_lake.load import aligned
from binance_lake.load.missing import Gap, Missing
from binance_lake.load.reader import load_table
from binance_lake.load.request import LoadRequest, SymbolsArg

Sync = Callable[..., object]


def fill_load(root: Path, request: LoadRequest, sync: Sync) -> None:
    """One sync of the request's series for the symbols the lake lacks, over the request's days."""
    loaded = load_table(root, request, require=False)
    # Days the catalog never listed are not in `missing` but may exist upstream: sync (which lists
    # exactly the asked days first) decides for those symbols too.
    wanted = sorted({*loaded.absent, *loaded.missing.symbols, *loaded.unlisted})
    if wanted:
        sync(
            market=request.market.value,
            datasets=[request.dataset],
            symbols=wanted,
            intervals=[request.interval.value] if request.interval is not None else None,
            start=request.range.first_day,
            end=request.range.last_day,
        )


def fill_aligned(
    root: Path,
    symbols: SymbolsArg,
    start: DateLike,
    end: DateLike | None,
    *,
    interval: str,
    market: str,
    sync: Sync,
) -> None:
    """Sync the gaps of every dataset an aligned load reads (its warnings are the second read's to give)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        first = aligned.load_aligned(root, symbols, start, end, interval=interval, market=market)
    fill_gaps(first.missing, market, sync)


def fill_gaps(missing: Missing, market: str, sync: Sync) -> None:
    """Sync the gaps of `missing`, one sync per dataset and interval over the span of its gaps."""
    groups: dict[tuple[str, str | None], list[Gap]] = {}
    for gap in missing.gaps:
        groups.setdefault((gap.dataset, gap.interval), []).append(gap)
    for (dataset, interval), gaps in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        sync(
            market=market,
            datasets=[dataset],
            symbols=sorted({g.symbol for g in gaps}),
            intervals=[interval] if interval is not None else None,
            start=min(g.first_day for g in gaps),
            end=max(g.last_day for g in gaps),
        )
