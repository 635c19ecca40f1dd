"""REST market-data series as Arrow tables in the lake's columns: the kline family and funding rates.

`fetch_klines(client, series, start_ms, end_ms)` and `fetch_funding(...)` return every row whose time falls in
`[start_ms, end_ms]` (both inclusive, open time for klines: REST's `endTime` is inclusive on open time,
reference §4.2), in the dataset's lake schema (`core/datasets.py`): the same columns and types an archive file
of the same days parses to, so a REST day equals the archive day. Paging (reference §4.2, §4.4):
- klines: pages of up to 1500 bars (spot 1000), the last page sized to the bars left (a smaller `limit`
  weighs less); COIN-M asks at most 200 days per request;
- fundingRate: pages of 1000 rows, `startTime` moved past the last row returned.
Spot is asked in microseconds (`X-MBX-TIME-UNIT: MICROSECOND`), so `1s` bars and the µs era read losslessly.
REST `fundingRate` has no interval field: the lake's `funding_interval_hours` is the gap to the next funding
time; for the newest record (no next one yet) it is the gap to `premiumIndex`'s `nextFundingTime` when the
fetch reaches now (`newest=True`), else the gap to the previous record, see `core/quirks.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from binance_lake.binance.rest_market import FUNDING_BUCKET, MarketRestClient
from binance_lake.binance.rest_weight import kline_weight
from binance_lake.core import quirks
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import ServerError
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.vocabulary import Interval, Market

KLINE_PAGE = 1500
SPOT_KLINE_PAGE = 1000
FUNDING_PAGE = 1000
FUNDING_WEIGHT = 1  # dapi: 1; fapi shares a 500/5min request budget, counted as 1 to stay well clear
CM_WINDOW_MS = (
    200 * 86_400_000
)  # dapi: "The difference between startTime and endTime can only be up to 200 days"
PREMIUM_INDEX_WEIGHT = 1  # with a symbol (reference §4.2)
US_PER_MS = 1000
HOUR_MS = 3_600_000

_KLINE_FLOATS = ("open", "high", "low", "close", "volume")
_KLINE_TAIL_FLOATS = ("quote_volume",)


def kline_path(dataset: str) -> str:
    """The REST path of a kline-family dataset (spot has klines only)."""
    return f"/{dataset}"


def interval_ms(interval: Interval) -> int:
    """The bar length in ms; calendar months count as 31 days (only used to size pages)."""
    return 31 * 86_400_000 if interval.is_calendar else interval.milliseconds


def page_limit(market: Market, start_ms: int, end_ms: int, step_ms: int) -> int:
    """The `limit` of the next page: the bars left in `[start_ms, end_ms]`, at most a full page."""
    most = SPOT_KLINE_PAGE if market is Market.SPOT else KLINE_PAGE
    left = (end_ms - start_ms) // step_ms + 1
    return max(1, min(most, left))


def _to_float(values: Sequence[Any]) -> Any:
    return pa.array([float(v) for v in values], pa.float64())


def _times(values: Sequence[Any], per_us: int) -> Any:
    return pa.array([int(v) * per_us for v in values], pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def kline_table(
    rows: Sequence[Sequence[Any]], market: Market, dataset: str, *, microseconds: bool
) -> pa.Table:
    """REST kline arrays (12 fields, numbers as text) as a table in the dataset's lake schema."""
    schema = get_dataset(dataset).schema(market)
    if not rows:
        return schema.empty_table()
    per_us = 1 if microseconds else US_PER_MS
    try:
        fields = list(zip(*rows, strict=False))
        columns = {
            "open_time": _times(fields[0], per_us),
            "open": _to_float(fields[1]),
            "high": _to_float(fields[2]),
            "low": _to_float(fields[3]),
            "close": _to_float(fields[4]),
            "volume": _to_float(fields[5]),
            "close_time": _times(fields[6], per_us),
            "quote_volume": _to_float(fields[7]),
            "count": pa.array([int(v) for v in fields[8]], pa.int64()),
            "taker_buy_volume": _to_float(fields[9]),
            "taker_buy_quote_volume": _to_float(fields[10]),
        }
    except (IndexError, TypeError, ValueError) as error:
        raise ServerError(f"a {dataset} REST answer is not a list of kline arrays ({error})") from None
    return pa.table([columns[name] for name in schema.names], schema=schema)


async def fetch_klines(client: MarketRestClient, series: SeriesKey, start_ms: int, end_ms: int) -> pa.Table:
    """Every bar of `series` whose open time is in `[start_ms, end_ms]`, in the lake's columns, sorted.

    `series.interval` must be set; for index-price klines `series.symbol` is the pair (the lake keeps them
    under the pair, as the archive does)."""
    market, dataset, interval, symbol = series.market, series.dataset, series.interval, series.symbol
    if interval is None:
        raise ValueError(f"{dataset} has no interval")
    step = interval_ms(interval)
    spot = market is Market.SPOT
    name_key = "pair" if get_dataset(dataset).directory_is_pair else "symbol"
    per_ms = US_PER_MS if spot else 1  # spot is asked (and answers) in microseconds
    headers = {"X-MBX-TIME-UNIT": "MICROSECOND"} if spot else None
    tables: list[pa.Table] = []
    cursor = start_ms
    while cursor <= end_ms:
        stop = min(end_ms, cursor + CM_WINDOW_MS - 1) if market is Market.CM else end_ms
        limit = page_limit(market, cursor, stop, step)
        params: dict[str, str | int] = {
            name_key: symbol,
            "interval": interval.rest_name,
            "startTime": cursor * per_ms,
            "endTime": stop * per_ms + (per_ms - 1),
            "limit": limit,
        }
        rows = await client.get(
            market, kline_path(dataset), params, weight=kline_weight(limit), headers=headers
        )
        if not isinstance(rows, list):
            raise ServerError(f"the {dataset} REST answer for {symbol} is not a list")
        table = kline_table(rows, market, dataset, microseconds=spot)
        if table.num_rows:
            tables.append(table)
        if len(rows) < limit:
            if stop >= end_ms:
                break
            cursor = stop + 1  # a CM window with fewer bars than asked: go on with the next window
            continue
        last_open_us = int(table.column("open_time").cast(pa.int64())[-1].as_py())
        cursor = last_open_us // US_PER_MS + 1
    return _concat(tables, market, dataset)


def funding_table(
    records: Sequence[dict[str, Any]],
    market: Market,
    *,
    previous_hours: int | None = None,
    next_ms: int | None = None,
) -> pa.Table:
    """REST fundingRate objects as `fundingRate` lake rows (calc_time, funding_interval_hours,
    last_funding_rate). The interval is inferred from the funding times (REST has no such field)."""
    schema = get_dataset("fundingRate").schema(market)
    if not records:
        return schema.empty_table()
    try:
        times = [int(r["fundingTime"]) for r in records]
        rates = [float(r["fundingRate"]) for r in records]
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"a fundingRate REST answer lacks a field ({error})") from None
    hours = infer_interval_hours(times, previous_hours, next_ms=next_ms)
    columns = {
        "calc_time": _times(times, US_PER_MS),
        "funding_interval_hours": pa.array(hours, pa.int64()),
        "last_funding_rate": pa.array(rates, pa.float64()),
    }
    return pa.table([columns[n] for n in schema.names], schema=schema)


def infer_interval_hours(
    times_ms: Sequence[int], previous_hours: int | None = None, *, next_ms: int | None = None
) -> list[int]:
    """Each funding time's interval in hours: the gap to the next funding time (`next_ms`, the upcoming one,
    for the last), else to the previous one, else `previous_hours`, else the usual 8 (core/quirks.py
    DEFAULT_FUNDING_INTERVAL_HOURS)."""
    following = [*times_ms[1:], next_ms] if next_ms is not None else list(times_ms[1:])
    gaps = [round((b - a) / HOUR_MS) for a, b in zip(times_ms, following, strict=False)]
    hours: list[int] = []
    for i in range(len(times_ms)):
        if i < len(gaps) and gaps[i] > 0:
            hours.append(gaps[i])
        elif i > 0 and gaps[i - 1] > 0:
            hours.append(gaps[i - 1])
        else:
            hours.append(previous_hours or quirks.DEFAULT_FUNDING_INTERVAL_HOURS)
    return hours


async def fetch_funding(
    client: MarketRestClient,
    market: Market,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    previous_hours: int | None = None,
    newest: bool = False,
) -> pa.Table:
    """Every funding record of `symbol` with its time in `[start_ms, end_ms]`, in the lake's columns. With
    `newest` (the range reaches now), the last record's interval comes from `premiumIndex`'s next funding
    time: REST's records carry none, and the gap to the previous record is wrong right after a switch."""
    records: list[dict[str, Any]] = []
    cursor = start_ms
    while cursor <= end_ms:
        params: dict[str, str | int] = {
            "symbol": symbol,
            "startTime": cursor,
            "endTime": end_ms,
            "limit": FUNDING_PAGE,
        }
        page = await client.get(
            market,
            "/fundingRate",
            params,
            weight=FUNDING_WEIGHT,
            bucket=FUNDING_BUCKET if market is Market.UM else None,
        )
        if not isinstance(page, list):
            raise ServerError(f"the fundingRate REST answer for {symbol} is not a list")
        records.extend(page)
        if len(page) < FUNDING_PAGE:
            break
        cursor = int(page[-1]["fundingTime"]) + 1
    next_ms = None
    if newest and records:
        upcoming = await next_funding_time(client, market, symbol)
        if upcoming is not None:
            times = [int(r["fundingTime"]) for r in records[-2:]]
            earlier = times[-2] if len(times) == 2 else None
            next_ms = upcoming_after(times[-1], earlier, previous_hours, *upcoming)
    return funding_table(records, market, previous_hours=previous_hours, next_ms=next_ms)


def upcoming_after(
    last_ms: int, earlier_ms: int | None, previous_hours: int | None, next_ms: int, server_ms: int
) -> int:
    """The funding time following `last_ms`, from `premiumIndex`'s `nextFundingTime` at `server_ms`. Right at a
    funding time, `nextFundingTime` has moved on while the new record is not published yet (its time carries a
    few ms of jitter): then `next_ms` is two intervals after `last_ms` and the interval is the previous one."""
    gap = (last_ms - earlier_ms) if earlier_ms is not None else (previous_hours or 0) * HOUR_MS
    gap = round(gap / HOUR_MS) * HOUR_MS
    hour = last_ms // HOUR_MS * HOUR_MS  # funding times sit a few ms after the hour
    if gap > 0 and round((next_ms - last_ms) / HOUR_MS) * HOUR_MS == 2 * gap and server_ms >= hour + gap:
        return hour + gap
    return next_ms


async def next_funding_time(client: MarketRestClient, market: Market, symbol: str) -> tuple[int, int] | None:
    """(`nextFundingTime`, `time`) of `symbol` from `/premiumIndex` (UM answers an object, CM a list of one);
    None when absent (0 for a delivery contract)."""
    answer = await client.get(market, "/premiumIndex", {"symbol": symbol}, weight=PREMIUM_INDEX_WEIGHT)
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    if not isinstance(answer, dict):
        return None
    value, at = answer.get("nextFundingTime"), answer.get("time")
    if not isinstance(value, int) or value <= 0 or not isinstance(at, int):
        return None
    return value, at


def _concat(tables: list[pa.Table], market: Market, dataset: str) -> pa.Table:
    if not tables:
        return get_dataset(dataset).schema(market).empty_table()
    return pa.concat_tables(tables)
