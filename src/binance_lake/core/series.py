"""The lake's integer series codes: one fixed, append-only number for every (market, dataset, interval).

The catalog's day index keys its rows by `day * SERIES_CODE_SPAN + code`, so a code must never change once a
lake holds it: codes were once derived by enumerating the registry in order, and a dataset added to the
registry renumbered every later series and rebuilt the day index of every lake. The table below is the
numbering as the registry produced it before that was fixed; a new dataset or interval is APPENDED as a new
block (tests/core/test_series.py pins the existing codes and checks that every series the registry allows has
one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

SERIES_CODE_SPAN = 4096  # series codes are < 4096, so day_series = day * 4096 + code is unique

SeriesKey = tuple[str, str, str | None]  # (market, dataset, interval or None)

_KLINE = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo")

# Append-only: codes are numbered from 1 in this order. Never reorder, remove or insert before the end.
_BLOCKS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("spot", "klines", ("1s", *_KLINE)),
    ("spot", "aggTrades", None),
    ("spot", "trades", None),
    ("um", "klines", _KLINE),
    ("um", "markPriceKlines", _KLINE),
    ("um", "indexPriceKlines", _KLINE),
    ("um", "premiumIndexKlines", _KLINE),
    ("um", "fundingRate", None),
    ("um", "metrics", None),
    ("um", "aggTrades", None),
    ("um", "trades", None),
    ("um", "bookTicker", None),
    ("um", "bookDepth", None),
    ("um", "liquidationSnapshot", None),
    ("cm", "klines", _KLINE),
    ("cm", "markPriceKlines", _KLINE),
    ("cm", "indexPriceKlines", _KLINE),
    ("cm", "premiumIndexKlines", _KLINE),
    ("cm", "fundingRate", None),
    ("cm", "metrics", None),
    ("cm", "aggTrades", None),
    ("cm", "trades", None),
    ("cm", "bookTicker", None),
    ("cm", "bookDepth", None),
    ("cm", "liquidationSnapshot", None),
    ("option", "BVOLIndex", None),
    ("option", "EOHSummary", None),
    # Stream-only datasets (issue 15).
    ("um", "markPrice", None),
    ("um", "liquidations", None),
    ("cm", "markPrice", None),
    ("cm", "liquidations", None),
    # REST-only statistics (issue 11).
    ("um", "openInterestHist", None),
    ("um", "topLongShortAccountRatio", None),
    ("um", "topLongShortPositionRatio", None),
    ("um", "globalLongShortAccountRatio", None),
    ("um", "takerlongshortRatio", None),
    ("cm", "openInterestHist", None),
    ("cm", "topLongShortAccountRatio", None),
    ("cm", "topLongShortPositionRatio", None),
    ("cm", "globalLongShortAccountRatio", None),
    ("cm", "takerBuySellVol", None),
    # New series go here, as new blocks.
)


def _numbered() -> dict[SeriesKey, int]:
    keys: list[SeriesKey] = []
    for market, dataset, intervals in _BLOCKS:
        keys.extend((market, dataset, i) for i in intervals or (None,))
    codes = {key: number for number, key in enumerate(keys, start=1)}
    assert len(codes) == len(keys), "a series appears twice in the code table"
    assert len(codes) < SERIES_CODE_SPAN
    return codes


SERIES_CODES: Mapping[SeriesKey, int] = MappingProxyType(_numbered())
SERIES_BY_CODE: Mapping[int, SeriesKey] = MappingProxyType({v: k for k, v in SERIES_CODES.items()})
# Identifies the whole table; stored in the catalog so an unchanged table costs one lookup a process.
SERIES_FINGERPRINT = hashlib.sha256(
    repr(sorted(SERIES_CODES.items(), key=lambda kv: kv[1])).encode()
).hexdigest()[:16]
