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

Funding and metrics are as-of joins: the last usable row per symbol, or null when there is none. The joins are
binary searches over each symbol's sorted times (numpy), a few milliseconds for a symbol-year where a
DuckDB ASOF query took fifty; all six datasets share one coverage query and are decoded together.
`funding_time` and `metrics_time` say which row was used. Index-price klines are keyed by pair: the catalog's
exchange pair when known, else the symbol up to its first `_` (BTCUSDT_230929 -> BTCUSDT, BTCUSD_PERP ->
BTCUSD). Datasets other than klines may be absent (a delivery contract has no funding): their columns are null
and their gaps are reported in `missing` like any other. A dataset the lake holds for none of the asked symbols
(never synced) while it has days in `missing` also raises a `MissingDataWarning` naming it and the sync
command, so all-null columns are never silent; `Lake.load_aligned(fill=True)` syncs such gaps first.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.catalog.reads import exchange_pairs
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import MissingDataWarning, UsageError
from binance_lake.core.quirks import METRICS_PERIOD
from binance_lake.core.symbols import pair_of  # the sync's rule for index pairs; re-exported for old imports
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.connection import Cursor, LakeState
from binance_lake.load.missing import Missing
from binance_lake.load.reader import Loaded, Planned, not_held_message, plan, read_many
from binance_lake.load.request import LoadRequest, SymbolsArg, build_request

PRICE_DATASETS = {
    "markPriceKlines": "mark_close",
    "indexPriceKlines": "index_close",
    "premiumIndexKlines": "premium_close",
}
METRIC_COLUMNS: tuple[str, ...] = tuple(get_dataset("metrics").schema(Market.UM).names[1:])
# Funding is paid every 1, 4 or 8 hours: two days back always holds the rate in force at the first bar.
FUNDING_LOOKBACK = dt.timedelta(days=2)
METRICS_LOOKBACK = dt.timedelta(days=1)
_METRICS_PERIOD_US = int(METRICS_PERIOD.total_seconds()) * 1_000_000

Ints = npt.NDArray[np.int64]


def _exchange_pairs(
    handle: Cursor, alias: str | None, tables: frozenset[str], market: Market, symbols: tuple[str, ...]
) -> dict[str, str]:
    if alias is None or "exchange_symbols" not in tables:
        return {}
    return exchange_pairs(handle, market, symbols, schema=f"{alias}.")


def _pairs(state: LakeState, market: Market, symbols: tuple[str, ...]) -> dict[str, str]:
    known = state.ask(
        ("pairs", market, symbols),
        lambda handle, alias, tables: _exchange_pairs(handle, alias, tables, market, symbols),
    )
    return {s: known.get(s, pair_of(s)) for s in symbols}


def _micros(column: Any) -> Ints:
    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


class _Sorted:
    """A table in (symbol, time) order with each symbol's row slice, for binary searches per symbol."""

    def __init__(self, table: pa.Table, time: str) -> None:
        if table.num_rows:
            # Symbols as small integers ranked by name: numpy sorts and compares those fast, not strings.
            encoded: Any = pc.dictionary_encode(table.column("symbol").combine_chunks())
            names = [str(n) for n in encoded.dictionary.to_pylist()]
            rank = np.argsort(np.argsort(np.array(names, dtype=object)))
            keys = rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
            times = _micros(table.column(time))
            step_key, step_time = np.diff(keys), np.diff(times)
            if not np.all((step_key > 0) | ((step_key == 0) & (step_time >= 0))):
                order = np.lexsort((times, keys))
                table, keys, times = table.take(order), keys[order], times[order]
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            ends = np.r_[starts[1:], len(keys)]
            by_rank = {int(r): n for n, r in zip(names, rank, strict=True)}
            self.slices = {by_rank[int(keys[a])]: (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
        else:
            times = np.zeros(0, dtype=np.int64)
            self.slices = {}
        self.table = table
        self.times = times

    def rows(self, symbol: str) -> tuple[int, Ints]:
        a, b = self.slices.get(symbol, (0, 0))
        return a, self.times[a:b]


def _exact(left: Ints, right: Ints, offset: int) -> Ints:
    """For each left time, the row (offset + index) of the equal right time, or -1."""
    pos = np.searchsorted(right, left, side="left")
    inside = pos < len(right)
    hit = np.zeros(len(left), dtype=bool)
    hit[inside] = right[pos[inside]] == left[inside]
    return np.where(hit, pos + offset, -1)


def _asof(left: Ints, right: Ints, offset: int) -> Ints:
    """For each left time, the row (offset + index) of the last right time <= it, or -1."""
    pos = np.searchsorted(right, left, side="right") - 1
    return np.where(pos >= 0, pos + offset, -1)


def _take(column: Any, rows: Ints) -> Any:
    """`column`'s values at `rows`, null where a row is -1 (no match)."""
    indices: Any = pa.array(rows, type=pa.int64(), mask=rows < 0)
    return pc.take(column, indices)


def align(
    klines: pa.Table,
    prices: Mapping[str, pa.Table],
    funding: pa.Table,
    metrics: pa.Table,
    pairs: Mapping[str, str],
) -> pa.Table:
    """Join the loaded tables by the module's rule. `prices` maps a PRICE_DATASETS name to its bars."""
    k = _Sorted(klines, "open_time")
    close_times = _micros(k.table.column("close_time"))
    sources = {name: _Sorted(prices[name], "open_time") for name in PRICE_DATASETS}
    fund = _Sorted(funding, "calc_time")
    met = _Sorted(metrics, "create_time")
    known_at = met.times + _METRICS_PERIOD_US
    picks: dict[str, list[Ints]] = {name: [] for name in (*PRICE_DATASETS, "fund", "met")}
    for symbol, (a, b) in sorted(k.slices.items()):
        opens, closes = k.times[a:b], close_times[a:b]
        for name, source in sources.items():
            offset, times = source.rows(pairs.get(symbol, symbol) if name == "indexPriceKlines" else symbol)
            picks[name].append(_exact(opens, times, offset))
        offset, times = fund.rows(symbol)
        picks["fund"].append(_asof(closes, times, offset))
        first, last = met.slices.get(symbol, (0, 0))
        picks["met"].append(_asof(closes, known_at[first:last], first))
    order = np.concatenate([np.arange(a, b) for _, (a, b) in sorted(k.slices.items())] or [np.zeros(0, int)])
    bars = k.table.take(order) if k.table.num_rows else k.table
    rows = {name: np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for name, p in picks.items()}
    columns: dict[str, Any] = {name: bars.column(name) for name in bars.column_names}
    for name, column in PRICE_DATASETS.items():
        columns[column] = _take(sources[name].table.column("close"), rows[name])
    columns["funding_rate"] = _take(fund.table.column("last_funding_rate"), rows["fund"])
    columns["funding_interval_hours"] = _take(fund.table.column("funding_interval_hours"), rows["fund"])
    columns["funding_time"] = _take(fund.table.column("calc_time"), rows["fund"])
    for name in METRIC_COLUMNS:
        columns[name] = _take(met.table.column(name), rows["met"])
    columns["metrics_time"] = _take(met.table.column("create_time"), rows["met"])
    schema = aligned_schema(klines.schema)
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)


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


def never_held_message(klines: LoadRequest, never: list[LoadRequest]) -> str:
    """The `MissingDataWarning` text: which datasets the lake never held for the request, and the sync."""
    names = ",".join(r.dataset for r in never)
    interval = (
        f" --intervals {klines.interval.value}" if klines.interval and any(r.interval for r in never) else ""
    )
    command = (
        f"binance-lake sync --market {klines.market.value} --datasets {names}{interval} "
        f"--symbols {','.join(klines.symbols)} --start {klines.range.first_day} --end {klines.range.last_day}"
    )
    return (
        f"load_aligned: the lake holds no {names.replace(',', ', ')} data for {', '.join(klines.symbols)} in "
        f"market {klines.market.value}, so those columns are null (their days are in `missing`); sync them "
        f"with `{command}` or pass fill=True"
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
    with LakeState(root) as state:
        pairs = _pairs(state, klines.market, klines.symbols)
        requests: list[tuple[LoadRequest, dt.timedelta]] = [(klines, dt.timedelta(0))]
        for dataset in PRICE_DATASETS:
            wanted = tuple(dict.fromkeys(pairs.values())) if dataset == "indexPriceKlines" else klines.symbols
            requests.append(
                (
                    build_request(
                        dataset,
                        wanted,
                        start,
                        end,
                        market=klines.market,
                        interval=klines.interval,
                        columns=["close"],
                    ),
                    dt.timedelta(0),
                )
            )
        requests.append(
            (build_request("fundingRate", klines.symbols, start, end, market=klines.market), FUNDING_LOOKBACK)
        )
        requests.append(
            (build_request("metrics", klines.symbols, start, end, market=klines.market), METRICS_LOOKBACK)
        )
        together = [r for r, _ in requests]
        planned: list[Planned] = [
            plan(root, state, r, lookback=back, together=together) for r, back in requests
        ]
    if planned[0].absent:
        raise UsageError(not_held_message(root, klines, planned[0].absent))
    # Never synced: held for none of the symbols, yet with days in `missing` (a dataset the catalog knows
    # is not published for these symbols, like a delivery contract's funding, is no news).
    never = [p.request for p in planned[1:] if len(p.absent) == len(p.request.symbols) and p.coverage.missing]
    if never:
        warnings.warn(never_held_message(klines, never), MissingDataWarning, stacklevel=3)
    tables = read_many([p.part() for p in planned])
    missing = Missing()
    for p in planned:
        missing = missing + p.coverage.missing
    prices = dict(zip(PRICE_DATASETS, tables[1:4], strict=True))
    return Loaded(align(tables[0], prices, tables[4], tables[5], pairs), missing)
