"""Catalog requests as the user gave them, validated into the catalog's terms: the part of the archive a
refresh lists (`Selection`), the series a query or probe looks at (`queries.Filters`), and the probe's days.

Pure: no I/O. Every bad input becomes a `UsageError` of one sentence (as `load.request` does for loads).
"""

from __future__ import annotations

import datetime as dt

from binance_lake.catalog.queries import Filters
from binance_lake.catalog.refresh import Selection
from binance_lake.core.choices import Names, as_day, as_list, chosen_symbols
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.core.symbols import normalize_symbol
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import Market, parse_interval, parse_market

# A probe HEADs one file per series and day; ten years back is more than the archive holds for any series.
MAX_PROBE_DAYS = 3660


def check_days_back(days_back: int) -> int:
    if not 1 <= days_back <= MAX_PROBE_DAYS:
        raise UsageError(f"--days-back must be between 1 and {MAX_PROBE_DAYS} (ten years), not {days_back}")
    return days_back


def probe_last_day(date: DateLike | None) -> dt.date:
    """The last day a probe looks at: `date`, or yesterday (UTC) when not given."""
    return as_day(date) if date is not None else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def build_selection(
    settings: Settings, *, markets: Names, datasets: Names, symbols: Names, intervals: Names
) -> Selection:
    """What a refresh lists: every market when none is named; symbols may name `@set`s of the settings, and
    ccxt names when one market is named."""
    chosen_markets = tuple(parse_market(m) for m in as_list(markets))
    one_market = chosen_markets[0].value if len(chosen_markets) == 1 else None
    selection = Selection(
        markets=chosen_markets or tuple(Market),
        datasets=tuple(get_dataset(d).name for d in as_list(datasets)),
        symbols=tuple(normalize_symbol(s) for s in chosen_symbols(settings, symbols, one_market) or ()),
        intervals=tuple(parse_interval(i) for i in as_list(intervals)),
    )
    if not any(selection.specs(m) for m in selection.markets):
        raise UsageError("none of the chosen datasets exists in the chosen markets")
    return selection


def build_filters(markets: Names, datasets: Names, intervals: Names, symbol: str | None = None) -> Filters:
    """The series a query or probe looks at; names are checked against the vocabulary, None means all."""
    return Filters(
        market=tuple(parse_market(m).value for m in as_list(markets)) or None,
        dataset=tuple(get_dataset(d).name for d in as_list(datasets)) or None,
        interval=tuple(parse_interval(i).value for i in as_list(intervals)) or None,
        symbol=normalize_symbol(symbol) if symbol else None,
    )


def day_span(start: DateLike, end: DateLike) -> tuple[dt.date, dt.date]:
    """Whole days `start .. end`, both included; an end before the start is a `UsageError`."""
    first, last = as_day(start), as_day(end)
    if last < first:
        raise UsageError(f"start {first} is after end {last}")
    return first, last
