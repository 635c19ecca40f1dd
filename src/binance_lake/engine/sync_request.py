"""A sync request as the user gave it, validated into Binance's vocabulary: market, datasets, intervals,
symbols (with `@set`s of the settings) and whole UTC days.

Pure: no I/O. The one place a `SyncRequest` is validated; every bad input is a `UsageError` of one sentence
(as `load.request` does for loads).
"""

from __future__ import annotations

import datetime as dt

from binance_lake.core.choices import Names, as_day, as_list, chosen_symbols
from binance_lake.core.datasets import get_dataset
from binance_lake.core.settings import Settings
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import parse_interval, parse_market
from binance_lake.engine.sync import SyncRequest


def build_sync_request(
    settings: Settings,
    *,
    market: str | None,
    datasets: Names,
    symbols: Names,
    intervals: Names,
    start: DateLike,
    end: DateLike | None,
    include_delisted: bool = False,
) -> SyncRequest:
    """The validated request. `symbols` None is every symbol (`--all`), an empty list a `UsageError`; `end`
    defaults to today (UTC); both days are included. `market`, `datasets` and `intervals` None are the
    settings' defaults (`[defaults]` of binance-lake.toml; um, klines and none unless set)."""
    first = as_day(start)
    last = as_day(end) if end is not None else dt.datetime.now(dt.UTC).date()
    chosen_market = parse_market(market if market is not None else settings.default_market)
    datasets = settings.default_datasets if datasets is None else datasets
    intervals = settings.default_intervals if intervals is None else intervals
    chosen = chosen_symbols(settings, symbols, chosen_market.value)
    request = SyncRequest(
        market=chosen_market,
        datasets=tuple(get_dataset(d).name for d in as_list(datasets)),
        first_day=first,
        last_day=last,
        intervals=tuple(parse_interval(i) for i in as_list(intervals)),
        symbols=chosen or (),
        include_delisted=include_delisted,
    )
    request.validate()
    return request
