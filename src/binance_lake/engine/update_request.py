"""An update request as the user gave it, validated into Binance's vocabulary (as `engine/sync_request.py`
does for syncs). Pure: every bad input is a `UsageError` of one sentence."""

from __future__ import annotations

from binance_lake.core.choices import Names, as_list, chosen_symbols
from binance_lake.core.datasets import get_dataset
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import parse_interval, parse_market
from binance_lake.engine.update import DEFAULT_DAYS_BACK, DEFAULT_MAX_GAP_DAYS, UpdateRequest


def build_update_request(
    settings: Settings,
    *,
    market: str | None = None,
    datasets: Names = None,
    intervals: Names = None,
    symbols: Names = None,
    days_back: int = DEFAULT_DAYS_BACK,
    fill_gaps: bool = False,
    max_gap_days: int | None = None,
) -> UpdateRequest:
    """The validated request; None for `market`, `datasets`, `intervals` or `symbols` means every one the lake
    holds. `max_gap_days` needs `fill_gaps`."""
    if max_gap_days is not None and not fill_gaps:
        from binance_lake.core.errors import UsageError

        raise UsageError("--max-gap-days bounds --fill-gaps; give --fill-gaps too")
    parsed = parse_market(market) if market is not None else None
    names = tuple(get_dataset(d).name for d in as_list(datasets))
    if parsed is not None:
        for name in names:
            get_dataset(name).layout(parsed)  # one sentence when the market has no such dataset
    return UpdateRequest(
        market=parsed,
        datasets=names,
        intervals=tuple(parse_interval(i) for i in as_list(intervals)),
        symbols=chosen_symbols(settings, symbols) or (),
        days_back=days_back,
        fill_gaps=fill_gaps,
        max_gap_days=max_gap_days if max_gap_days is not None else DEFAULT_MAX_GAP_DAYS,
    )
