"""The REST-only statistics (`/futures/data/*`) fetched from the simulator equal its ground truth, the
universe's 5-minute metrics rows (the simulator derives every endpoint from them, reference §2.2's mapping):
every UM and CM dataset, paged, inside the 30 days REST keeps; the UM request bucket is never overrun."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pyarrow as pa
import pytest

from binance_lake.binance.rest_market import MarketRestClient, RequestBucket
from binance_lake.binance.rest_statistics import fetch_statistics, statistics_table
from binance_lake.core.datasets import REST_STATISTICS, get_dataset
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import to_millis
from binance_lake.core.vocabulary import Market
from binance_lake.sim.rest_series import DayTables
from binance_lake.sim.rest_weights import Bucket, RestLimits
from binance_lake.sim.universe import Universe
from tests.binance.rest_sim_client import NOW, sim_rest_client

START = NOW - dt.timedelta(days=3)  # 864 rows: two full pages and a short one


@asynccontextmanager
async def client_for(
    service: str, limits: RestLimits | None = None, **kwargs: Any
) -> AsyncIterator[tuple[MarketRestClient, Universe]]:
    async with sim_rest_client(service, limits, **kwargs) as sim:
        yield sim.client, sim.universe


def _metrics(universe: Universe, market: Market, symbol: str, first: dt.date, last: dt.date) -> pa.Table:
    tables = DayTables(universe)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return pa.concat_tables([tables.get(market, "metrics", symbol, None, d) for d in days])


def _truth(metrics: pa.Table, column: str, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, float]:
    out: dict[dt.datetime, float] = {}
    for t, v in zip(
        metrics.column("create_time").to_pylist(), metrics.column(column).to_pylist(), strict=True
    ):
        if start <= t <= end and v is not None:
            out[t] = v
    return out


UM_COLUMNS = {
    "openInterestHist": ("sum_open_interest", "sum_open_interest"),
    "topLongShortAccountRatio": ("long_short_ratio", "count_toptrader_long_short_ratio"),
    "topLongShortPositionRatio": ("long_short_ratio", "sum_toptrader_long_short_ratio"),
    "globalLongShortAccountRatio": ("long_short_ratio", "count_long_short_ratio"),
    "takerlongshortRatio": ("buy_sell_ratio", "sum_taker_long_short_vol_ratio"),
}


@pytest.mark.parametrize("dataset", sorted(UM_COLUMNS))
def test_um_statistics_equal_the_simulators_metrics(dataset: str) -> None:
    lake_column, metrics_column = UM_COLUMNS[dataset]

    async def go() -> None:
        async with client_for("fapi") as (client, universe):
            series = SeriesKey(Market.UM, dataset, None, "BTCUSDT")
            table = await fetch_statistics(client, series, to_millis(START), to_millis(NOW))
            assert table.schema == get_dataset(dataset).schema(Market.UM)
            truth = _truth(
                _metrics(universe, Market.UM, "BTCUSDT", START.date(), NOW.date()), metrics_column, START, NOW
            )
            got = dict(
                zip(table.column("timestamp").to_pylist(), table.column(lake_column).to_pylist(), strict=True)
            )
            assert len(truth) > 800 and got.keys() == truth.keys()
            assert all(got[t] == pytest.approx(truth[t], rel=1e-8) for t in truth)
            assert client.requests == 2 if len(truth) <= 1000 else 3

    asyncio.run(go())


def test_cm_statistics_are_per_pair_with_contract_type_all() -> None:
    async def go() -> None:
        async with client_for("dapi") as (client, universe):
            # ADAUSD has one contract, so its ALL open interest is its perpetual's.
            truth = _truth(
                _metrics(universe, Market.CM, "ADAUSD_PERP", START.date(), NOW.date()),
                "sum_open_interest",
                START,
                NOW,
            )
            oi = await fetch_statistics(
                client,
                SeriesKey(Market.CM, "openInterestHist", None, "ADAUSD"),
                to_millis(START),
                to_millis(NOW),
            )
            assert oi.schema == get_dataset("openInterestHist").schema(Market.CM)
            got = dict(
                zip(
                    oi.column("timestamp").to_pylist(),
                    oi.column("sum_open_interest").to_pylist(),
                    strict=True,
                )
            )
            assert len(truth) > 800 and got.keys() == truth.keys()
            assert all(got[t] == pytest.approx(truth[t], rel=1e-8) for t in truth)
            taker = await fetch_statistics(
                client,
                SeriesKey(Market.CM, "takerBuySellVol", None, "ADAUSD"),
                to_millis(START),
                to_millis(NOW),
            )
            assert taker.num_rows == len(truth)
            # The simulator's CM ratios are blank in the metrics (as in the archive): REST has no rows for them.
            position = await fetch_statistics(
                client,
                SeriesKey(Market.CM, "topLongShortPositionRatio", None, "ADAUSD"),
                to_millis(START),
                to_millis(NOW),
            )
            assert position.num_rows == 0 and "long_position" in position.column_names

    asyncio.run(go())


def test_only_thirty_days_are_served_and_the_request_bucket_is_never_overrun() -> None:
    async def go() -> None:
        # 20 requests / 5 min, and a ban on the first request sent over it: any overshoot would 418.
        limits = RestLimits(futures_data_bucket=Bucket(20, 300.0), ban_after=0)
        buckets = {"futures_data": RequestBucket("futures_data", 20, 300.0)}
        async with client_for("fapi", limits, request_buckets=buckets) as (client, _):
            series = SeriesKey(Market.UM, "openInterestHist", None, "BTCUSDT")
            table = await fetch_statistics(
                client, series, to_millis(NOW - dt.timedelta(days=60)), to_millis(NOW)
            )
            times = table.column("timestamp").to_pylist()
            assert min(times) >= NOW - dt.timedelta(days=30)
            assert len(times) == pytest.approx(30 * 288, abs=2)
            assert client.requests > 16  # 18 pages: it waited for the bucket rather than being banned

    asyncio.run(go())


def test_an_answer_without_a_field_is_one_sentence() -> None:
    from binance_lake.core.errors import ServerError

    with pytest.raises(ServerError, match="lacks a field"):
        statistics_table(
            [{"sumOpenInterest": "1"}], SeriesKey(Market.UM, "openInterestHist", None, "BTCUSDT")
        )
    assert set(REST_STATISTICS) >= set(UM_COLUMNS)
