"""Generate the clean ground truth of one dataset, symbol and UTC day as an Arrow table.

Pure: no I/O. Every value is an integer number of units (ticks, lots, 1e-8) divided by a power of ten, so
that `render` can print it with fixed decimals and a CSV reader gets back exactly the same float.
Kline intervals aggregate the same one-minute bars, so a 1h bar is exactly the 60 minutes under it; mark,
index and premium-index bars are derived from the same minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from binance_lake.core.datasets import get_dataset
from binance_lake.core.timerange import day_start, month_end
from binance_lake.core.vocabulary import Interval, Market, is_daily_file_date
from binance_lake.sim import market_model as mm

if TYPE_CHECKING:
    from binance_lake.sim.universe import SimSymbol, Universe

# 1000XECUSDT switches from 8-hourly to 4-hourly funding in the middle of July 2026 (reference §2.2).
FUNDING_SWITCH = ("1000XECUSDT", dt.datetime(2026, 7, 16, tzinfo=dt.UTC))
EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


def day_ms(day: dt.date) -> int:
    return (day.toordinal() - EPOCH_DAY) * mm.DAY_MS


def _units(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.asarray(np.rint(np.asarray(values, dtype=np.float64) * 10**decimals).astype(np.int64))


# A float64 holds 15 significant decimal digits for sure; values are kept within that so that every way of
# printing them with fixed decimals (archive CSV, REST JSON) gives the same text and reads back exactly.
_MAX_UNITS = 10**15


def _floats(units: np.ndarray, decimals: int) -> pa.Array[Any]:
    units = np.asarray(units, dtype=np.int64)
    big = np.abs(units) >= _MAX_UNITS
    if big.any():
        digits = np.floor(np.log10(np.maximum(np.abs(units), 1))).astype(np.int64) + 1
        step = np.where(big, 10 ** np.clip(digits - 15, 0, 18), 1).astype(np.int64)
        units = np.rint(units / step).astype(np.int64) * step
    return pa.array(units.astype(np.float64) / 10**decimals, pa.float64())


def _times(ms_or_us: np.ndarray, unit: str) -> pa.Array[Any]:
    micros = ms_or_us * 1000 if unit == "ms" else ms_or_us
    return pa.array(micros.astype(np.int64), pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _table(market: Market, dataset: str, columns: Mapping[str, pa.Array[Any]]) -> pa.Table:
    schema = get_dataset(dataset).schema(market)
    if not columns:
        return schema.empty_table()
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def decimals(universe: Universe, market: Market, dataset: str, symbol: str) -> dict[str, int]:
    """Decimals each float column is printed with in this symbol's files (fixed, like Binance's text)."""
    life = universe.life_of(market, symbol)
    asset = life.base_asset if life else symbol
    price = 8 if market is Market.SPOT else mm.price_decimals(mm.base_price(asset))
    qty = 8 if market is Market.SPOT else (0 if market is Market.CM else 3)
    quote = 8 if market is not Market.UM else 4
    table = {
        "open": price, "high": price, "low": price, "close": price, "volume": qty, "quote_volume": quote,
        "taker_buy_volume": qty, "taker_buy_quote_volume": quote, "price": price, "quantity": qty,
        "qty": qty, "quote_qty": quote, "base_qty": 8, "best_bid_price": price, "best_ask_price": price,
        "best_bid_qty": qty, "best_ask_qty": qty, "last_funding_rate": 8, "depth": 8, "notional": 8,
        "percentage": 0, "original_quantity": qty, "average_price": price, "last_fill_quantity": qty,
        "accumulated_fill_quantity": qty, "index_value": 4, "strike": 0,
    }  # fmt: skip
    if dataset == "EOHSummary":
        return {name: (0 if name == "strike" else 4) for name in get_dataset(dataset).schema(market).names}
    if dataset in ("markPriceKlines", "indexPriceKlines", "premiumIndexKlines"):
        table.update(volume=0, quote_volume=0, taker_buy_volume=0, taker_buy_quote_volume=0)
        if dataset == "premiumIndexKlines":
            table.update(open=8, high=8, low=8, close=8)
    if market is Market.CM and dataset == "klines":
        table.update(quote_volume=8, taker_buy_quote_volume=8)
    return table


def _tick_decimals(market: Market, asset: str) -> int:
    """Value precision: spot prices move in cents even though the text has 8 decimals."""
    return mm.price_decimals(mm.base_price(asset)) + (1 if market is Market.SPOT else 0)


# ---------------------------------------------------------------- klines family


def _bar_span(interval: Interval, day: dt.date) -> int | None:
    """How many days a bar opening on `day` covers, for 1d and longer; None for intraday intervals."""
    if interval is Interval.D1:
        return 1
    if interval is Interval.D3:
        return 3 if is_daily_file_date(interval, day) else 0
    if interval is Interval.W1:
        return 7 if is_daily_file_date(interval, day) else 0
    if interval is Interval.MO1:
        return month_end(day).day if day.day == 1 else 0
    return None


def _minute_bars(
    universe: Universe, market: Market, dataset: str, life: SimSymbol, day: dt.date
) -> dict[str, np.ndarray]:
    """Integer one-minute bars of one day, with the alive mask applied as `alive`."""
    seed = universe.seed
    source = life.symbol
    path = mm.minute_path(seed, market.value, source, life.base_asset, day)
    pdec = _tick_decimals(market, life.base_asset)
    opens, highs, lows, closes = path.open, path.high, path.low, path.close
    if dataset != "klines":
        rng = np.random.default_rng(mm.stable_seed(seed, dataset, market.value, life.pair, day))
        noise = rng.normal(0.0, 0.0002, (4, mm.MINUTES))
        if dataset == "premiumIndexKlines":
            mark = closes * (1 + noise[0])
            index = closes * (1 + noise[1])
            values = (mark - index) / index
            opens = np.concatenate(([values[0]], values[:-1]))
            closes = values
            highs = np.maximum(opens, closes) + np.abs(noise[2]) * 0.1
            lows = np.minimum(opens, closes) - np.abs(noise[3]) * 0.1
            pdec = 8
        else:
            opens, closes = opens * (1 + noise[0]), closes * (1 + noise[1])
            highs = np.maximum(highs * (1 + noise[2]), np.maximum(opens, closes))
            lows = np.minimum(lows * (1 - np.abs(noise[3])), np.minimum(opens, closes))
    o, c = _units(opens, pdec), _units(closes, pdec)
    h = np.maximum(np.ceil(highs * 10**pdec).astype(np.int64), np.maximum(o, c))
    low = np.minimum(np.floor(lows * 10**pdec).astype(np.int64), np.minimum(o, c))
    bars = {"open": o, "high": h, "low": low, "close": c, "pdec": np.array([pdec])}
    alive = mm.alive_mask(day, 60_000, life.onboard_ms, life.end_ms)
    bars["alive"] = alive
    if dataset == "klines":
        dec = decimals(universe, market, dataset, life.symbol)
        mid = (opens + closes) / 2
        if market is Market.CM:
            size = life.contract_size or 10
            contracts = np.maximum(np.rint(path.volume * mid / size), 1).astype(np.int64)
            base = contracts * size / mid
            bars["volume"] = contracts
            bars["quote_volume"] = _units(base, 8)
            bars["taker_buy_volume"] = np.rint(contracts * path.taker_share).astype(np.int64)
            bars["taker_buy_quote_volume"] = _units(base * path.taker_share, 8)
        else:
            vol = np.maximum(_units(path.volume, dec["volume"]), 1)
            bars["volume"] = vol
            bars["quote_volume"] = _units(vol / 10 ** dec["volume"] * mid, dec["quote_volume"])
            taker = np.rint(vol * path.taker_share).astype(np.int64)
            bars["taker_buy_volume"] = taker
            bars["taker_buy_quote_volume"] = _units(taker / 10 ** dec["volume"] * mid, dec["quote_volume"])
        bars["count"] = path.count.astype(np.int64)
    else:
        zeros = np.zeros(mm.MINUTES, dtype=np.int64)
        bars.update(volume=zeros, quote_volume=zeros, taker_buy_volume=zeros, taker_buy_quote_volume=zeros)
        bars["count"] = np.full(mm.MINUTES, 60, dtype=np.int64)
    return bars


_SUMMED = ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "count")


def _aggregate(bars: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Group consecutive alive base bars `size` at a time (bars with no alive minute vanish)."""
    alive = bars["alive"].reshape(-1, size)
    keep = alive.any(axis=1)
    out: dict[str, np.ndarray] = {"start": np.flatnonzero(keep) * size}
    big = np.iinfo(np.int64).max
    for name in ("open", "close", "high", "low", *_SUMMED):
        values = bars[name].reshape(-1, size)
        if name == "open":
            first = alive.argmax(axis=1)
            out[name] = values[np.arange(len(values)), first][keep]
        elif name == "close":
            last = size - 1 - alive[:, ::-1].argmax(axis=1)
            out[name] = values[np.arange(len(values)), last][keep]
        elif name == "high":
            out[name] = np.where(alive, values, -big).max(axis=1)[keep]
        elif name == "low":
            out[name] = np.where(alive, values, big).min(axis=1)[keep]
        else:
            out[name] = np.where(alive, values, 0).sum(axis=1)[keep]
    return out


def _second_bars(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> dict[str, np.ndarray]:
    points = mm.second_points(universe.seed, market.value, life.symbol, life.base_asset, day)
    pdec = _tick_decimals(market, life.base_asset)
    units = _units(points, pdec)
    o, c = units[:-1], units[1:]
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "sec-vol", life.symbol, day))
    n = len(o)
    vol = rng.integers(0, 40000, n).astype(np.int64)  # 1e-8 units: 0 .. 0.0004 BTC
    mid = (points[:-1] + points[1:]) / 2
    taker = vol // 2
    return {
        "open": o, "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c,
        "volume": vol, "quote_volume": _units(vol / 1e8 * mid, 8), "taker_buy_volume": taker,
        "taker_buy_quote_volume": _units(taker / 1e8 * mid, 8), "count": (vol > 0).astype(np.int64),
        "alive": mm.alive_mask(day, 1000, life.onboard_ms, life.end_ms), "pdec": np.array([pdec]),
    }  # fmt: skip


def _kline_table(
    universe: Universe, market: Market, dataset: str, life: SimSymbol, interval: Interval, day: dt.date
) -> pa.Table:
    span = _bar_span(interval, day)
    unit = get_dataset(dataset).epoch_unit(market, day)
    if span == 0:
        return _table(market, dataset, {})
    if span is None:
        if interval is Interval.S1:
            agg = _aggregate(_second_bars(universe, market, life, day), 1)
            step_ms = 1000
        else:
            step = interval.milliseconds // 60_000
            agg = _aggregate(_minute_bars(universe, market, dataset, life, day), step)
            step_ms = interval.milliseconds
            agg["start"] = agg["start"] // step
        starts = day_ms(day) + agg["start"] * (step_ms if interval is not Interval.S1 else 1) * (
            1000 if interval is Interval.S1 else 1
        )
        ends = starts + step_ms
    else:
        days = [day + dt.timedelta(days=k) for k in range(span)]
        dailies = [_aggregate(_minute_bars(universe, market, dataset, life, d), mm.MINUTES) for d in days]
        dailies = [d for d in dailies if len(d["start"])]
        if not dailies:
            return _table(market, dataset, {})
        agg = {
            "open": dailies[0]["open"], "close": dailies[-1]["close"],
            "high": np.array([max(d["high"][0] for d in dailies)]),
            "low": np.array([min(d["low"][0] for d in dailies)]),
        }  # fmt: skip
        for name in _SUMMED:
            agg[name] = np.array([sum(int(d[name][0]) for d in dailies)], dtype=np.int64)
        starts = np.array([day_ms(day)], dtype=np.int64)
        ends = starts + span * mm.DAY_MS
    if not len(agg["open"]):
        return _table(market, dataset, {})
    pdec = _tick_decimals(market, life.base_asset) if dataset != "premiumIndexKlines" else 8
    dec = decimals(universe, market, dataset, life.symbol)
    scale = 1000 if unit == "us" else 1
    close_times = ends * scale - 1
    columns = {
        "open_time": _times(starts * scale, unit),
        "close_time": _times(close_times, unit),
        "count": pa.array(agg["count"], pa.int64()),
    }
    for name in ("open", "high", "low", "close"):
        columns[name] = _floats(agg[name], pdec)
    for name in ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume"):
        columns[name] = _floats(agg[name], dec[name] if interval is not Interval.S1 else 8)
    return _table(market, dataset, columns)


# ---------------------------------------------------------------- other datasets


def _funding(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    if life.contract_type != "PERPETUAL":
        return _table(market, "fundingRate", {})
    hours = 8
    if life.symbol == FUNDING_SWITCH[0] and day_start(day) >= FUNDING_SWITCH[1]:
        hours = 4
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "funding", market.value, life.symbol, day))
    times = day_ms(day) + np.arange(0, 24, hours, dtype=np.int64) * 3_600_000
    keep = (times >= life.onboard_ms) & ((times < life.end_ms) if life.end_ms else True)
    times = (times + rng.integers(0, 13, len(times)))[keep]  # calc_time sits 0-12 ms after the hour
    rates = _units(0.0001 + rng.normal(0, 0.00006, len(times)), 8)
    return _table(
        market,
        "fundingRate",
        {
            "calc_time": _times(times, "ms"),
            "funding_interval_hours": pa.array(np.full(len(times), hours), pa.int64()),
            "last_funding_rate": _floats(rates, 8),
        },
    )


def _grid(life: SimSymbol, day: dt.date, step_ms: int) -> np.ndarray:
    times = day_ms(day) + np.arange(0, mm.DAY_MS, step_ms, dtype=np.int64)
    keep = (times >= life.onboard_ms) & ~mm.in_maintenance(times)
    if life.end_ms is not None:
        keep &= times < life.end_ms
    return np.asarray(times[keep])


def _price_at(
    universe: Universe, market: Market, life: SimSymbol, day: dt.date, times: np.ndarray
) -> np.ndarray:
    path = mm.minute_path(universe.seed, market.value, life.symbol, life.base_asset, day)
    minute = np.clip((times - day_ms(day)) // 60_000, 0, mm.MINUTES - 1)
    return np.asarray(path.close[minute])


def _metrics(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    times = _grid(life, day, 300_000)
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "metrics", market.value, life.symbol, day))
    price = _price_at(universe, market, life, day, times)
    n = len(times)
    oi = 50000.0 / mm.base_price(life.base_asset) ** 0.5 * (1 + 0.1 * np.sin(np.arange(n) / 40)) * 1000
    ratios = [_floats(_units(rng.uniform(0.6, 2.5, n), 8), 8) for _ in range(4)]
    if market is Market.CM:  # CM leaves the top-trader and account ratios blank (`""`)
        ratios[:3] = [pa.nulls(n, pa.float64())] * 3
    return _table(
        market,
        "metrics",
        {
            "create_time": _times(times, "ms"),
            "sum_open_interest": _floats(_units(oi, 8), 8),
            "sum_open_interest_value": _floats(_units(oi * price, 8), 8),
            "count_toptrader_long_short_ratio": ratios[0],
            "sum_toptrader_long_short_ratio": ratios[1],
            "count_long_short_ratio": ratios[2],
            "sum_taker_long_short_vol_ratio": ratios[3],
        },
    )


def _book_depth(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "depth", market.value, life.symbol, day))
    snaps = _grid(life, day, 30_000)
    snaps = snaps + rng.integers(0, 3, len(snaps)) * 1000  # snapshots land on whole seconds, a little late
    pct = np.array([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5], dtype=np.int64)
    price = np.repeat(_price_at(universe, market, life, day, snaps), len(pct))
    levels = np.tile(pct, len(snaps))
    depth = np.abs(levels) * rng.uniform(50, 150, len(levels)) * 100 / mm.base_price(life.base_asset) ** 0.5
    notional = depth * price * (1 + levels / 200)
    return _table(
        market,
        "bookDepth",
        {
            "timestamp": _times(np.repeat(snaps, len(pct)), "ms"),
            "percentage": pa.array(levels.astype(np.float64)),
            "depth": _floats(_units(depth, 8), 8),
            "notional": _floats(_units(notional, 8), 8),
        },
    )


def _trades(universe: Universe, market: Market, life: SimSymbol, day: dt.date, dataset: str) -> pa.Table:
    """aggTrades and trades of one day, generated together so their ids agree."""
    rate = universe.tick_rate(market, life.symbol)
    n_agg = max(rate * 2 // 3, 1)
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "trades", market.value, life.symbol, day))
    unit = get_dataset(dataset).epoch_unit(market, day)
    span_us = mm.DAY_MS * 1000
    offsets = np.sort(rng.integers(0, span_us, n_agg))
    if unit == "ms":
        offsets -= offsets % 1000
    times_us = day_ms(day) * 1000 + offsets
    keep = (times_us >= life.onboard_ms * 1000) & ~mm.in_maintenance(times_us // 1000)
    if life.end_ms is not None:
        keep &= times_us < life.end_ms * 1000
    # Trades per aggregate, 1 to 3, summing to exactly 2 per aggregate over the day: with a fixed count per
    # day, a symbol's ids (aggregate and trade) run on from one day to the next without a hole, as Binance's do.
    parity = rng.integers(1, 4, n_agg) % 2
    sizes = 2 + parity - np.roll(parity, 1)
    day_index = (day - life.listed).days
    agg_ids = day_index * n_agg + np.arange(n_agg, dtype=np.int64) + 1
    first_ids = day_index * n_agg * 2 + np.concatenate(([0], np.cumsum(sizes)[:-1])) + 1
    pdec = _tick_decimals(market, life.base_asset)
    prices = _units(_price_at(universe, market, life, day, times_us // 1000), pdec)
    maker = rng.random(n_agg) < 0.5
    dec = decimals(universe, market, dataset, life.symbol)
    qdec = dec["qty"]
    total = int(sizes.sum())
    trade_qty = rng.integers(1, 2000, total).astype(np.int64) * (10 ** max(qdec - 3, 0))
    if market is Market.CM:
        trade_qty = rng.integers(1, 50, total).astype(np.int64)
    owner = np.repeat(np.arange(n_agg), sizes)
    if dataset == "aggTrades":
        qty = np.bincount(owner, weights=trade_qty, minlength=n_agg).astype(np.int64)
        columns = {
            "agg_trade_id": pa.array(agg_ids[keep]),
            "price": _floats(prices[keep], pdec),
            "quantity": _floats(qty[keep], qdec),
            "first_trade_id": pa.array(first_ids[keep]),
            "last_trade_id": pa.array((first_ids + sizes - 1)[keep]),
            "transact_time": _times(times_us[keep], "us"),
            "is_buyer_maker": pa.array(maker[keep]),
        }
        if market is Market.SPOT:
            columns["is_best_match"] = pa.array(np.ones(int(keep.sum()), dtype=bool))
        return _table(market, dataset, columns)
    trade_keep = keep[owner]
    ids = np.repeat(first_ids, sizes) + (np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    price = prices[owner]
    value = trade_qty / 10**qdec * price / 10**pdec
    columns = {
        "id": pa.array(ids[trade_keep]),
        "price": _floats(price[trade_keep], pdec),
        "qty": _floats(trade_qty[trade_keep], qdec),
        "time": _times(times_us[owner][trade_keep], "us"),
        "is_buyer_maker": pa.array(maker[owner][trade_keep]),
    }
    if market is Market.CM:
        base = trade_qty * (life.contract_size or 10) / (price / 10**pdec)
        columns["base_qty"] = _floats(_units(base, 8)[trade_keep], 8)
    else:
        columns["quote_qty"] = _floats(_units(value, dec["quote_qty"])[trade_keep], dec["quote_qty"])
    if market is Market.SPOT:
        columns["is_best_match"] = pa.array(np.ones(int(trade_keep.sum()), dtype=bool))
    return _table(market, dataset, columns)


def _book_ticker(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    rate = universe.tick_rate(market, life.symbol)
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "ticker", market.value, life.symbol, day))
    times = np.sort(day_ms(day) + rng.integers(0, mm.DAY_MS, rate))
    keep = (times >= life.onboard_ms) & ~mm.in_maintenance(times)
    if life.end_ms is not None:
        keep &= times < life.end_ms
    times = times[keep]
    n = len(times)
    pdec = _tick_decimals(market, life.base_asset)
    bid = _units(_price_at(universe, market, life, day, times), pdec)
    ask = bid + rng.integers(1, 4, n)
    qdec = decimals(universe, market, "bookTicker", life.symbol)["best_bid_qty"]
    ids = (day - life.listed).days * rate * 20 + np.cumsum(rng.integers(1, 20, n))
    return _table(
        market,
        "bookTicker",
        {
            "update_id": pa.array(ids),
            "best_bid_price": _floats(bid, pdec),
            "best_bid_qty": _floats(rng.integers(1, 5000, n) * 10 ** max(qdec - 3, 0), qdec),
            "best_ask_price": _floats(ask, pdec),
            "best_ask_qty": _floats(rng.integers(1, 5000, n) * 10 ** max(qdec - 3, 0), qdec),
            "transaction_time": _times(times, "ms"),
            "event_time": _times(times + rng.integers(0, 6, n), "ms"),
        },
    )


def _liquidations(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "liq", market.value, life.symbol, day))
    times = np.unique(day_ms(day) + rng.integers(0, mm.DAY_MS, int(rng.integers(20, 60))))
    times = times[~mm.in_maintenance(times) & (times >= life.onboard_ms)]
    n = len(times)
    pdec = _tick_decimals(market, life.base_asset)
    price = _units(_price_at(universe, market, life, day, times), pdec)
    qty = rng.integers(1, 40, n).astype(np.int64)
    qdec = decimals(universe, market, "liquidationSnapshot", life.symbol)["original_quantity"]
    sides = np.where(rng.random(n) < 0.5, "BUY", "SELL")
    return _table(
        market,
        "liquidationSnapshot",
        {
            "time": _times(times, "ms"),
            "side": pa.array(sides.tolist(), pa.string()),
            "order_type": pa.array(["LIMIT"] * n, pa.string()),
            "time_in_force": pa.array(["IOC"] * n, pa.string()),
            "original_quantity": _floats(qty, qdec),
            "price": _floats(price, pdec),
            "average_price": _floats(price - rng.integers(0, 50, n), pdec),
            "order_status": pa.array(["FILLED"] * n, pa.string()),
            "last_fill_quantity": _floats(np.maximum(qty - rng.integers(0, 3, n), 1), qdec),
            "accumulated_fill_quantity": _floats(qty, qdec),
        },
    )


def _bvol(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    """One row every 10 s (Binance publishes ~1 per second; 10 s keeps files small)."""
    times = _grid(life, day, 10_000) + 1
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "bvol", life.symbol, day))
    level = 45 + 10 * np.sin(day.toordinal() / 9) + np.cumsum(rng.normal(0, 0.02, len(times)))
    n = len(times)
    return _table(
        market,
        "BVOLIndex",
        {
            "calc_time": _times(times, "ms"),
            "base_asset": pa.array([life.base_asset + "BVOL"] * n, pa.string()),
            "quote_asset": pa.array([life.quote_asset] * n, pa.string()),
            "index_value": _floats(_units(level, 4), 4),
        },
    )


def _eoh(universe: Universe, market: Market, life: SimSymbol, day: dt.date) -> pa.Table:
    """Hourly summaries of 8 option contracts on the underlying (4 strikes, calls and puts)."""
    spot = mm.anchor(universe.seed, life.base_asset, day)
    step = 10 ** max(int(np.log10(spot)) - 1, 0)
    strikes = [round(spot / step) * step + k * step for k in (-2, -1, 1, 2)]
    friday = day + dt.timedelta(days=(4 - day.weekday()) % 7 or 7)
    names = [f"{life.base_asset}-{friday:%y%m%d}-{s:.0f}-{t}" for s in strikes for t in ("C", "P")]
    rows = [(h, name) for h in range(24) for name in sorted(names)]
    rng = np.random.default_rng(mm.stable_seed(universe.seed, "eoh", life.symbol, day))
    n = len(rows)
    columns: dict[str, pa.Array[Any]] = {
        "date": _times(np.full(n, day_ms(day)), "ms"),
        "hour": pa.array([h for h, _ in rows], pa.int64()),
        "symbol": pa.array([s for _, s in rows], pa.string()),
        "underlying": pa.array([life.symbol] * n, pa.string()),
        "type": pa.array([s[-1] for _, s in rows], pa.string()),
        "strike": pa.array([float(s.split("-")[2]) for _, s in rows]),
    }
    # Option prices hold together: low <= open, close <= high.
    opens, closes = rng.uniform(5, 500, n), rng.uniform(5, 500, n)
    spread = rng.uniform(0, 20, (2, n))
    for name, values in (
        ("open", opens),
        ("close", closes),
        ("high", np.maximum(opens, closes) + spread[0]),
        ("low", np.maximum(np.minimum(opens, closes) - spread[1], 0.0001)),
    ):
        columns[name] = _floats(_units(values, 4), 4)
    for name in get_dataset("EOHSummary").schema(market).names:
        if name not in columns:
            values = _floats(_units(rng.uniform(0.01, 500, n), 4), 4)
            if name in ("best_buy_iv", "best_sell_iv"):  # illiquid strikes leave these empty
                values = pa.array(
                    [None if r < 0.2 else v for r, v in zip(rng.random(n), values.to_pylist(), strict=True)],
                    pa.float64(),
                )
            columns[name] = values
    return _table(market, "EOHSummary", columns)


_SIMPLE: dict[str, Callable[[Universe, Market, SimSymbol, dt.date], pa.Table]] = {
    "fundingRate": _funding,
    "metrics": _metrics,
    "bookDepth": _book_depth,
    "bookTicker": _book_ticker,
    "liquidationSnapshot": _liquidations,
    "BVOLIndex": _bvol,
    "EOHSummary": _eoh,
}


def generate_day(
    universe: Universe, market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date
) -> pa.Table:
    """See `Universe.day_table`."""
    life = universe.life_of(market, symbol)
    spec = get_dataset(dataset)
    if life is None or not life.active_on(day) or spec.has_interval != (interval is not None):
        return _table(market, dataset, {})
    if interval is not None:
        return _kline_table(universe, market, dataset, life, interval, day)
    if dataset in ("aggTrades", "trades"):
        return _trades(universe, market, life, day, dataset)
    return _SIMPLE[dataset](universe, market, life, day)
