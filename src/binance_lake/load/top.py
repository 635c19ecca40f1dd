"""The lake's answer to `--symbols @top:N`: symbols of a market ranked by traded quote volume over the 30 days
ending on a day, from the klines the lake holds (never a request upstream; point-in-time for a past day).

The klines of the coarsest interval the lake holds in that window are read (1d is one row a symbol and day;
3d, 1w and 1mo bars straddle the window's ends and are not used). Quote volume is `quote_volume`, except in cm,
whose `quote_volume` column holds base-asset volume (issue #267): there it is `quote_volume × close`, USD.
Delivery contracts (`…_YYMMDD`) are left out: they are not what a priority list names.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.timerange import day_start, iter_months, month_text
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.connection import cursor

WINDOW_DAYS = 30
# Coarsest first; bars longer than a day are not in the list (they straddle the window).
RANKING_INTERVALS = tuple(
    reversed([i for i in Interval if i not in (Interval.D3, Interval.W1, Interval.MO1)])
)


def _files(root: Path, market: Market, interval: Interval, first: dt.date, last: dt.date) -> list[str]:
    base = root / TABLES_DIR / "klines" / f"market={market.value}" / f"interval={interval.value}"
    if not base.is_dir():
        return []
    months = {f"{month_text(m)}.parquet" for m in iter_months(first, last)}
    return sorted(str(p) for p in base.glob("symbol=*/*.parquet") if p.name in months)


def lake_ranking(root: Path, market: Market, last_day: dt.date) -> list[tuple[str, float]] | None:
    """(symbol, quote volume) over the `WINDOW_DAYS` days ending on `last_day`, highest first (ties by name);
    None when the lake holds no klines of `market` in that window."""
    first_day = last_day - dt.timedelta(days=WINDOW_DAYS - 1)
    start, end = day_start(first_day), day_start(last_day + dt.timedelta(days=1))
    volume = "quote_volume * close" if market is Market.CM else "quote_volume"
    for interval in RANKING_INTERVALS:
        files = _files(root, market, interval, first_day, last_day)
        if not files:
            continue
        with cursor() as handle:
            rows = handle.execute(
                f"""
                SELECT symbol, sum({volume}) AS volume
                FROM read_parquet(?, hive_partitioning = true, union_by_name = true)
                WHERE open_time >= ? AND open_time < ? AND NOT regexp_matches(symbol, '_[0-9]{{6}}$')
                GROUP BY symbol ORDER BY volume DESC, symbol
                """,
                [files, start, end],
            ).fetchall()
        if rows:
            return [(str(symbol), float(v or 0.0)) for symbol, v in rows]
    return None
