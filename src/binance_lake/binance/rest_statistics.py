"""REST-only statistics (`/futures/data/*`: open interest history, long/short ratios, taker volume) as Arrow
tables in the lake's columns (`core/datasets.py`, the datasets with a `rest_period`).

`fetch_statistics(client, series, start_ms, end_ms)` returns every row whose `timestamp` is in
`[start_ms, end_ms]` at the dataset's period (5m). Reference §4.2 (UM, `symbol`) and §4.4 (CM, `pair`, and
`contractType` for open interest and taker volume: the lake asks `ALL`, the pair's total). Pages hold up to 500
rows; a page may be shorter than `limit` mid-range (rows Binance has no value for are left out), so paging goes
on after the last row returned until the range is covered. REST keeps the latest 30 days only
(`core/quirks.py` `STATISTICS_REST_DAYS`); `timestamp` is a number although the docs show strings.
UM's endpoints weigh 0 but count toward a 1000 requests / 5 min bucket (older docs); dapi's weigh 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from binance_lake.binance.rest_market import FUTURES_DATA_BUCKET, MarketRestClient
from binance_lake.core.datasets import STATISTICS_CONTRACT_TYPE, ColumnKind, get_dataset
from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.vocabulary import Interval, Market

PAGE = 500  # max `limit` of every /futures/data endpoint
US_PER_MS = 1000
UM_WEIGHT = 1  # documented 0; counted as 1 so the weight budget still paces them
CM_WEIGHT = 1

# The JSON key behind each lake column, per market (reference §4.2 / §4.4 captures).
_KEYS: Mapping[str, str] = {
    "timestamp": "timestamp",
    "sum_open_interest": "sumOpenInterest",
    "sum_open_interest_value": "sumOpenInterestValue",
    "cmc_circulating_supply": "CMCCirculatingSupply",
    "long_short_ratio": "longShortRatio",
    "long_account": "longAccount",
    "short_account": "shortAccount",
    "long_position": "longPosition",
    "short_position": "shortPosition",
    "buy_sell_ratio": "buySellRatio",
    "buy_vol": "buyVol",
    "sell_vol": "sellVol",
    "taker_buy_vol": "takerBuyVol",
    "taker_sell_vol": "takerSellVol",
    "taker_buy_vol_value": "takerBuyVolValue",
    "taker_sell_vol_value": "takerSellVolValue",
}
_BY_CONTRACT = frozenset({"openInterestHist", "takerBuySellVol"})  # CM endpoints that need `contractType`


def statistics_path(dataset: str) -> str:
    return f"/futures/data/{dataset}"


def period_ms(series: SeriesKey) -> int:
    spec = get_dataset(series.dataset)
    if spec.rest_period is None:
        raise ValueError(f"{series.dataset} is not a REST statistics dataset")
    return Interval(spec.rest_period).milliseconds


def statistics_params(series: SeriesKey) -> dict[str, str | int]:
    """The fixed query of a series: who (symbol or pair, CM's contract type) and the period."""
    spec = get_dataset(series.dataset)
    params: dict[str, str | int] = {}
    if series.market is Market.CM:
        params["pair"] = series.symbol
        if series.dataset in _BY_CONTRACT:
            params["contractType"] = STATISTICS_CONTRACT_TYPE
    elif series.market is Market.UM:
        params["symbol"] = series.symbol
    else:
        raise UsageError(f"{series.dataset} exists in the futures markets only, not {series.market.value}")
    params["period"] = str(spec.rest_period)
    return params


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def statistics_table(records: Sequence[Mapping[str, Any]], series: SeriesKey) -> pa.Table:
    """REST statistics objects as lake rows of `series`' dataset (times in µs UTC, figures as floats)."""
    spec = get_dataset(series.dataset)
    schema = spec.schema(series.market)
    if not records:
        return schema.empty_table()
    columns: list[Any] = []
    try:
        for field in spec.layout(series.market).kept:
            key = _KEYS[field.name]
            if field.kind is ColumnKind.EPOCH_TIME:
                values = [int(r[key]) * US_PER_MS for r in records]
                columns.append(pa.array(values, pa.int64()).cast(field.arrow_type))
            else:
                columns.append(pa.array([_number(r.get(key)) for r in records], pa.float64()))
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"a {series.dataset} REST answer lacks a field ({error})") from None
    return pa.table(columns, schema=schema)


async def fetch_statistics(
    client: MarketRestClient, series: SeriesKey, start_ms: int, end_ms: int
) -> pa.Table:
    """Every row of `series` with its timestamp in `[start_ms, end_ms]`, in the lake's columns, sorted."""
    step = period_ms(series)
    um = series.market is Market.UM
    base = statistics_params(series)
    records: list[Mapping[str, Any]] = []
    cursor = start_ms
    while cursor <= end_ms:
        params = {**base, "startTime": cursor, "endTime": end_ms, "limit": PAGE}
        page = await client.get(
            series.market,
            statistics_path(series.dataset),
            params,
            weight=UM_WEIGHT if um else CM_WEIGHT,
            bucket=FUTURES_DATA_BUCKET if um else None,
        )
        if not isinstance(page, list):
            raise ServerError(f"the {series.dataset} REST answer for {series.symbol} is not a list")
        rows = [r for r in page if isinstance(r, dict) and start_ms <= int(r.get("timestamp", -1)) <= end_ms]
        if not rows:
            break
        records.extend(rows)
        cursor = int(rows[-1]["timestamp"]) + 1
        if len(page) < PAGE and cursor + step > end_ms:
            break  # short because the range is covered (not a page with value-less rows left out)
    return statistics_table(records, series)
