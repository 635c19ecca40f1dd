"""The synthetic market's price and volume paths: a slow deterministic anchor per asset and day, joined
by a Brownian bridge of one-minute (or one-second) steps, so consecutive days meet and every interval
aggregates from the same minutes.

Pure: no I/O. Everything is a function of (seed, market, symbol, day) through a stable hash, never
Python's randomized `hash()`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from binance_lake.core.timerange import UTC

DAY_MS = 86_400_000
MINUTES = 1440

# Exchange-wide maintenance: the same bars are missing for every symbol and market (issues #84, #169).
MAINTENANCE_WINDOWS: tuple[tuple[dt.datetime, dt.datetime], ...] = (
    (dt.datetime(2020, 2, 19, 3, 0, tzinfo=UTC), dt.datetime(2020, 2, 19, 5, 0, tzinfo=UTC)),
    (dt.datetime(2023, 3, 24, 12, 0, tzinfo=UTC), dt.datetime(2023, 3, 24, 13, 30, tzinfo=UTC)),
    (dt.datetime(2025, 8, 14, 2, 0, tzinfo=UTC), dt.datetime(2025, 8, 14, 2, 45, tzinfo=UTC)),
)

_BASE_PRICES = {
    "BTC": 30000.0, "ETH": 2000.0, "BNB": 300.0, "SOL": 60.0, "DOGE": 0.12, "ADA": 0.4,
    "1000SHIB": 0.012, "1000XEC": 0.035, "1000000BOB": 0.08, "XEM": 0.05, "CVC": 0.12,
}  # fmt: skip


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text: stable across processes and Python versions."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1)."""
    return stable_seed(*parts) / 2**64


def base_price(asset: str) -> float:
    if asset in _BASE_PRICES:
        return _BASE_PRICES[asset]
    return 10 ** (unit_hash("price", asset) * 5 - 2)  # 0.01 .. 1000


def anchor(seed: int, asset: str, day: dt.date) -> float:
    """The asset's price at 00:00 UTC of `day`: slow waves plus a little daily noise, O(1) per day."""
    n = day.toordinal()
    phase = unit_hash(seed, "phase", asset) * 2 * math.pi
    wave = 0.45 * math.sin(2 * math.pi * n / 700 + phase) + 0.12 * math.sin(2 * math.pi * n / 61 + 2 * phase)
    noise = 0.02 * (unit_hash(seed, "anchor", asset, n) - 0.5)
    return base_price(asset) * math.exp(wave + noise)


def price_decimals(price: float) -> int:
    """Tick precision by magnitude, like futures symbols' tickSize."""
    for limit, decimals in ((1000, 1), (10, 2), (1, 3), (0.01, 5)):
        if price >= limit:
            return decimals
    return 7


@dataclass(frozen=True)
class MinutePath:
    """Unrounded one-minute bars of one symbol and day (1440 each)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base asset
    count: np.ndarray
    taker_share: np.ndarray


def _bridge(rng: np.random.Generator, start: float, end: float, steps: int, sigma: float) -> np.ndarray:
    """A Brownian bridge in log space from `start` to `end`: `steps + 1` points."""
    walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, sigma, steps))))
    target = math.log(end / start)
    t = np.linspace(0.0, 1.0, steps + 1)
    return np.asarray(start * np.exp(walk - t * (walk[-1] - target)))


@functools.lru_cache(maxsize=1024)
def minute_path(seed: int, market: str, symbol: str, asset: str, day: dt.date) -> MinutePath:
    rng = np.random.default_rng(stable_seed(seed, "minutes", market, symbol, day))
    start = anchor(seed, asset, day)
    end = anchor(seed, asset, day + dt.timedelta(days=1))
    points = _bridge(rng, start, end, MINUTES, 0.0009)
    opens, closes = points[:-1], points[1:]
    wick = np.abs(rng.normal(0.0, 0.0004, (2, MINUTES)))
    high = np.maximum(opens, closes) * (1 + wick[0])
    low = np.minimum(opens, closes) * (1 - wick[1])
    scale = 2000.0 / base_price(asset) ** 0.5
    volume = rng.lognormal(0.0, 0.6, MINUTES) * scale
    count = rng.integers(5, 60, MINUTES)
    share = rng.uniform(0.3, 0.7, MINUTES)
    return MinutePath(opens, high, low, closes, volume, count, share)


def second_points(seed: int, market: str, symbol: str, asset: str, day: dt.date) -> np.ndarray:
    """86401 one-second price points bridging the minute path (for spot 1s klines)."""
    minutes = minute_path(seed, market, symbol, asset, day)
    rng = np.random.default_rng(stable_seed(seed, "seconds", market, symbol, day))
    steps = rng.normal(0.0, 0.00012, (MINUTES, 60))
    walk = np.concatenate((np.zeros((MINUTES, 1)), np.cumsum(steps, axis=1)), axis=1)
    t = np.linspace(0.0, 1.0, 61)
    target = np.log(minutes.close / minutes.open)
    log_path = walk - t[None, :] * (walk[:, -1:] - target[:, None])
    points = minutes.open[:, None] * np.exp(log_path[:, :-1])
    return np.concatenate((points.reshape(-1), minutes.close[-1:]))


def alive_mask(day: dt.date, step_ms: int, start_ms: int | None, end_ms: int | None) -> np.ndarray:
    """True for the steps of `day` that lie inside the symbol's life and outside every maintenance window."""
    day_ms = day.toordinal() * DAY_MS - dt.date(1970, 1, 1).toordinal() * DAY_MS
    n = DAY_MS // step_ms
    starts = day_ms + np.arange(n, dtype=np.int64) * step_ms
    mask = np.ones(n, dtype=bool)
    if start_ms is not None:
        mask &= starts >= start_ms
    if end_ms is not None:
        mask &= starts + step_ms <= end_ms
    for begin, end in MAINTENANCE_WINDOWS:
        b = int(begin.timestamp() * 1000)
        e = int(end.timestamp() * 1000)
        if b < day_ms + DAY_MS and e > day_ms:
            mask &= ~((starts >= b) & (starts + step_ms <= e))
    return mask


def in_maintenance(times_ms: np.ndarray) -> np.ndarray:
    hit = np.zeros(len(times_ms), dtype=bool)
    for begin, end in MAINTENANCE_WINDOWS:
        hit |= (times_ms >= int(begin.timestamp() * 1000)) & (times_ms < int(end.timestamp() * 1000))
    return hit
