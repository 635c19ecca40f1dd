"""One row per symbol and bar with everything known at the bar's close: `load_aligned`.

Columns: the klines (OHLCV, quote_volume, count, taker columns), the same bar's mark, index and premium-index
closes, the funding rate in force and the latest open-interest metrics. The rule, which never uses a value
from the future: a row is complete at its bar's `close_time`, so

- mark / index / premium-index bars join on the same `open_time` (they close at the same moment);
- a funding row is usable once `calc_time <= close_time` (calc_time can sit 0-12 ms after the funding
  boundary, so the 08:00 rate first appears on the bar that closes after it);
- a metrics row labelled `create_time` describes the 5 minutes starting there and is known only at its end,
  so it is usable once `create_time + 5 min <= close_time` (labels are period starts in the lake, issue
  https://github.com/binance/binance-public-data/issues/491).

Funding and metrics are DuckDB ASOF joins: the last usable row per symbol, or null when there is none.
`funding_time` and `metrics_time` say which row was used. Index-price klines are keyed by pair: the catalog's
exchange pair when known, else the symbol up to its first `_` (BTCUSDT_230929 -> BTCUSDT, BTCUSD_PERP ->
BTCUSD). Datasets other than klines may be absent (a delivery contract has no funding): their columns are null
and their gaps are reported in `missing` like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.quirks import METRICS_PERIOD
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.connection import attached, cursor, tables_of
from binance_lake.load.missing import Missing
from binance_lake.load.reader import Loaded, load_table
from binance_lake.load.request import SymbolsArg, build_request

PRICE_DATASETS = {
    "markPriceKlines": "mark_close",
    "indexPriceKlines": "index_close",
    "premiumIndexKlines": "premium_close",
}
METRIC_COLUMNS: tuple[str, ...] = tuple(get_dataset("metrics").schema(Market.UM).names[1:])
# Funding is paid every 1, 4 or 8 hours: two days back always holds the rate in force at the first bar.
FUNDING_LOOKBACK = dt.timedelta(days=2)
METRICS_LOOKBACK = dt.timedelta(days=1)


def pair_of(symbol: str) -> str:
    """The index pair of a futures symbol by Binance's naming: the part before the first `_`."""
    return symbol.split("_", 1)[0]


def _pairs(root: Path, market: Market, symbols: tuple[str, ...]) -> dict[str, str]:
    pairs = {s: pair_of(s) for s in symbols}
    with cursor() as handle, attached(handle, root) as alias:
        if alias is not None and "exchange_symbols" in tables_of(handle, alias):
            rows = handle.execute(
                f"SELECT symbol, pair FROM {alias}.exchange_symbols "
                "WHERE market = ? AND list_contains(?, symbol) AND pair IS NOT NULL AND pair <> ''",
                [market.value, list(symbols)],
            ).fetchall()
            pairs.update({str(s): str(p) for s, p in rows})
    return pairs


def align(
    klines: pa.Table,
    prices: Mapping[str, pa.Table],
    funding: pa.Table,
    metrics: pa.Table,
    pairs: Mapping[str, str],
) -> pa.Table:
    """Join the loaded tables by the module's rule. `prices` maps a PRICE_DATASETS name to its bars."""
    pair_table = pa.table(
        {"symbol": list(pairs), "pair": list(pairs.values())},
        schema=pa.schema([pa.field("symbol", pa.string()), pa.field("pair", pa.string())]),
    )
    metric_list = ", ".join(f"mt.{c}" for c in METRIC_COLUMNS)
    query = f"""
        WITH priced AS (
            SELECT k.*, m.close AS mark_close, i.close AS index_close, p.close AS premium_close
            FROM k
            LEFT JOIN pairs pr ON pr.symbol = k.symbol
            LEFT JOIN mark m ON m.symbol = k.symbol AND m.open_time = k.open_time
            LEFT JOIN idx i ON i.symbol = pr.pair AND i.open_time = k.open_time
            LEFT JOIN prem p ON p.symbol = k.symbol AND p.open_time = k.open_time
        ), funded AS (
            SELECT k.*, f.last_funding_rate AS funding_rate, f.funding_interval_hours, f.calc_time AS funding_time
            FROM priced k ASOF LEFT JOIN fund f ON f.symbol = k.symbol AND f.calc_time <= k.close_time
        ), known_metrics AS (
            SELECT *, create_time + INTERVAL {int(METRICS_PERIOD.total_seconds())} SECOND AS known_at FROM met
        )
        SELECT k.*, {metric_list}, mt.create_time AS metrics_time
        FROM funded k ASOF LEFT JOIN known_metrics mt ON mt.symbol = k.symbol AND mt.known_at <= k.close_time
        ORDER BY k.symbol, k.open_time
    """
    sources = {
        "k": klines,
        "mark": prices["markPriceKlines"],
        "idx": prices["indexPriceKlines"],
        "prem": prices["premiumIndexKlines"],
        "fund": funding,
        "met": metrics,
        "pairs": pair_table,
    }
    with cursor() as handle:
        for name, table in sources.items():
            handle.register(name, table)
        try:
            result: pa.Table = handle.sql(query).to_arrow_table()
        finally:
            for name in sources:
                handle.unregister(name)
    return result.cast(aligned_schema(klines.schema))


def aligned_schema(klines: pa.Schema) -> pa.Schema:
    funding = get_dataset("fundingRate").schema(Market.UM)
    metrics = get_dataset("metrics").schema(Market.UM)
    return pa.schema(
        [
            *klines,
            *(pa.field(name, pa.float64()) for name in PRICE_DATASETS.values()),
            pa.field("funding_rate", pa.float64()),
            funding.field("funding_interval_hours"),
            pa.field("funding_time", funding.field("calc_time").type),
            *(metrics.field(c) for c in METRIC_COLUMNS),
            pa.field("metrics_time", metrics.field("create_time").type),
        ]
    )


def load_aligned(
    root: Path,
    symbols: SymbolsArg,
    start: DateLike,
    end: DateLike | None = None,
    *,
    interval: str | Interval = "1h",
    market: str | Market = "um",
) -> Loaded:
    """Aligned bars of `symbols` (see the module docstring for the no-look-ahead rule)."""
    klines = build_request("klines", symbols, start, end, market=market, interval=interval)
    if not klines.market.is_futures:
        raise UsageError(
            "load_aligned needs a futures market (um or cm): mark, index and premium-index prices, funding "
            "and open-interest metrics exist only there"
        )
    bars = load_table(root, klines)
    missing: Missing = bars.missing
    prices: dict[str, pa.Table] = {}
    pairs = _pairs(root, klines.market, klines.symbols)
    for dataset in PRICE_DATASETS:
        wanted = tuple(dict.fromkeys(pairs.values())) if dataset == "indexPriceKlines" else klines.symbols
        request = build_request(
            dataset, wanted, start, end, market=klines.market, interval=klines.interval, columns=["close"]
        )
        loaded = load_table(root, request, require=False)
        prices[dataset], missing = loaded.table, missing + loaded.missing
    fund = load_table(
        root,
        build_request("fundingRate", klines.symbols, start, end, market=klines.market),
        require=False,
        lookback=FUNDING_LOOKBACK,
    )
    met = load_table(
        root,
        build_request("metrics", klines.symbols, start, end, market=klines.market),
        require=False,
        lookback=METRICS_LOOKBACK,
    )
    missing = missing + fund.missing + met.missing
    return Loaded(align(bars.table, prices, fund.table, met.table, pairs), missing)
