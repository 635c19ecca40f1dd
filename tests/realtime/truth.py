"""Ground truth for the stream tests: what the lake must hold for a window, from the simulator's day tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.universe import Universe


def fast_universe(symbols: tuple[str, ...], rate: int = 50_000) -> Universe:
    """The small universe with busy aggTrades for `symbols`, their day tables generated ahead."""
    universe = Universe.build("small")
    universe = dataclasses.replace(universe, tick_rates={(Market.UM, s): rate for s in symbols})
    day = universe.clock.now().date()
    for symbol in symbols:
        sim_symbol = universe.symbol(Market.UM, symbol)
        assert sim_symbol is not None
        for d in (day, day + dt.timedelta(days=1)):
            universe.day_table(Market.UM, "aggTrades", symbol, None, d)
            universe.day_table(Market.UM, "klines", symbol, Interval.M1, d)
            universe.day_table(Market.UM, "markPriceKlines", symbol, Interval.M1, d)
            universe.day_table(Market.UM, "indexPriceKlines", sim_symbol.pair, Interval.M1, d)
            universe.day_table(Market.UM, "fundingRate", symbol, None, d)
    return universe


def stored(root: Path, dataset: str, symbol: str, interval: str | None = None) -> pa.Table:
    part = f"interval={interval}/" if interval else ""
    files = sorted((root / "tables" / dataset / "market=um").glob(f"{part}symbol={symbol}/*.parquet"))
    assert files, f"nothing stored for {dataset} {symbol}"
    return pa.concat_tables([pq.read_table(f) for f in files])


def truth_between(
    universe: Universe, dataset: str, symbol: str, interval: Interval | None, column: str, table: pa.Table
) -> pa.Table:
    """The ground-truth rows whose `column` lies between the stored table's first and last value."""
    low, high = pc.min(table[column]), pc.max(table[column])
    times = pc.min_max(table[table.schema.names[0] if dataset != "aggTrades" else "transact_time"])
    first, last = times["min"].as_py().date(), times["max"].as_py().date()
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    truth = pa.concat_tables([universe.day_table(Market.UM, dataset, symbol, interval, d) for d in days])
    return truth.filter(pc.and_(pc.greater_equal(truth[column], low), pc.less_equal(truth[column], high)))


def explain(table: pa.Table, truth: pa.Table, key: str) -> str:
    have, want = set(table[key].to_pylist()), set(truth[key].to_pylist())
    missing, extra = sorted(want - have), sorted(have - want)
    return f"{table.num_rows} stored, {truth.num_rows} true; missing {missing[:10]} ({len(missing)}), extra {extra[:10]}"
