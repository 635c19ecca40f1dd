"""The simulated REST apps over the small universe: wire shapes, paging, agreement with the ground truth,
error codes, weight headers, 429/418/451."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pyarrow as pa
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from binance_lake.core.datasets import get_dataset
from binance_lake.core.quirks import PERPETUAL_DELIVERY_MS
from binance_lake.core.timerange import UTC, day_start, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim import content, render
from binance_lake.sim.render import RenderOptions
from binance_lake.sim.rest import rest_app
from binance_lake.sim.rest_weights import RestLimits
from binance_lake.sim.universe import Universe

Client = TestClient[web.Request, web.Application]
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = dt.date(2026, 11, 3)


def _universe() -> Universe:
    return Universe.build("small", now=NOW)


@pytest.fixture
def universe() -> Universe:
    return _universe()


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as client:
        yield client


async def get(client: Client, path: str, **query: Any) -> tuple[int, Any, Any]:
    async with client.get(path, params={k: str(v) for k, v in query.items()}) as response:
        return response.status, await response.json(), response.headers


def ms(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    return to_millis(day_start(day)) + hour * 3_600_000 + minute * 60_000


def table_rows(
    universe: Universe, market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date
) -> list[dict[str, Any]]:
    table = universe.day_table(market, dataset, symbol, interval, day)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def archive_lines(
    universe: Universe,
    market: Market,
    dataset: str,
    name: str,
    interval: Interval | None,
    day: dt.date,
    unit: str,
) -> list[str]:
    """The CSV lines `sim.render` writes for that day's archive file (no header)."""
    options = RenderOptions(
        header=False,
        epoch_unit=unit,
        spot_booleans=market is Market.SPOT,
        symbol=name,
        decimals=content.decimals(universe, market, dataset, name),
    )
    table = universe.day_table(market, dataset, name, interval, day)
    return render.csv_bytes(table, get_dataset(dataset).layout(market), options).decode().splitlines()


KLINE_NAMES = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def kline_values(array: list[Any], time_scale: int = 1000) -> dict[str, Any]:
    """A REST kline array read back into lake values (times in µs)."""
    assert len(array) == 12 and array[11] == "0"
    out: dict[str, Any] = {}
    for name, value in zip(KLINE_NAMES, array, strict=False):
        if name in ("open_time", "close_time"):
            assert isinstance(value, int)
            out[name] = value * time_scale
        elif name == "count":
            assert isinstance(value, int)
            out[name] = value
        else:
            assert isinstance(value, str)
            out[name] = float(value)
    return out


# --- agreement with the ground truth ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("service", "market", "path", "key", "name", "dataset", "interval"),
    [
        ("fapi", Market.UM, "/fapi/v1/klines", "symbol", "BTCUSDT", "klines", Interval.H1),
        ("fapi", Market.UM, "/fapi/v1/klines", "symbol", "ETHUSDT", "klines", Interval.M5),
        ("fapi", Market.UM, "/fapi/v1/markPriceKlines", "symbol", "BTCUSDT", "markPriceKlines", Interval.H1),
        ("fapi", Market.UM, "/fapi/v1/indexPriceKlines", "pair", "BTCUSDT", "indexPriceKlines", Interval.H1),
        (
            "fapi",
            Market.UM,
            "/fapi/v1/premiumIndexKlines",
            "symbol",
            "BTCUSDT",
            "premiumIndexKlines",
            Interval.H1,
        ),
        ("dapi", Market.CM, "/dapi/v1/klines", "symbol", "BTCUSD_PERP", "klines", Interval.H1),
        ("dapi", Market.CM, "/dapi/v1/indexPriceKlines", "pair", "BTCUSD", "indexPriceKlines", Interval.H1),
        ("spot", Market.SPOT, "/api/v3/klines", "symbol", "BTCUSDT", "klines", Interval.H1),
    ],
)
async def test_rest_day_equals_ground_truth(
    universe: Universe,
    service: str,
    market: Market,
    path: str,
    key: str,
    name: str,
    dataset: str,
    interval: Interval,
) -> None:
    for day in (DAY, dt.date(2024, 2, 29)):
        expected = table_rows(universe, market, dataset, name, interval, day)
        assert expected, "the sample day must hold data"
        async with serve(rest_app(universe, service)) as client:
            status, body, _ = await get(
                client,
                path,
                **{key: name},
                interval=interval.rest_name,
                startTime=ms(day),
                endTime=ms(day, 23, 59),
                limit=1000,
            )
        assert status == 200
        # the same characters the archive file of that day carries (header-less, ms epochs)
        assert [",".join(str(v) for v in a) for a in body] == archive_lines(
            universe, market, dataset, name, interval, day, "ms"
        )
        # and the same values as the ground truth: times and counts exactly, numbers to the printed decimals
        got = [kline_values(a) for a in body]
        assert [(g["open_time"] // 1000, g["close_time"] // 1000, g["count"]) for g in got] == [
            (r["open_time"] // 1000, r["close_time"] // 1000, r["count"]) for r in expected
        ]
        for g, r in zip(got, expected, strict=True):
            assert all(g[k] == pytest.approx(r[k], rel=1e-12, abs=1e-8) for k in KLINE_NAMES)


@pytest.mark.asyncio
async def test_spot_microsecond_opt_in(universe: Universe) -> None:
    expected = table_rows(universe, Market.SPOT, "klines", "BTCUSDT", Interval.H1, DAY)
    start_us = ms(DAY) * 1000
    async with serve(rest_app(universe, "spot")) as client:
        _, by_param, _ = await get(
            client,
            "/api/v3/klines",
            symbol="BTCUSDT",
            interval="1h",
            startTime=start_us,
            limit=24,
            timeUnit="MICROSECOND",
        )
        async with client.get(
            "/api/v3/klines",
            params={"symbol": "BTCUSDT", "interval": "1h", "startTime": str(start_us), "limit": "24"},
            headers={"X-MBX-TIME-UNIT": "MICROSECOND"},
        ) as response:
            by_header = await response.json()
    assert [kline_values(a, 1)["open_time"] for a in by_param] == [r["open_time"] for r in expected]
    assert [",".join(str(v) for v in a) for a in by_param] == archive_lines(
        universe, Market.SPOT, "klines", "BTCUSDT", Interval.H1, DAY, "us"
    )
    assert by_header == by_param


@pytest.mark.asyncio
async def test_paging_a_multi_day_range_with_limit(universe: Universe) -> None:
    first, last = dt.date(2026, 10, 30), dt.date(2026, 11, 2)
    expected = [
        r
        for d in (first + dt.timedelta(days=i) for i in range(4))
        for r in table_rows(universe, Market.UM, "klines", "BTCUSDT", Interval.M5, d)
    ]
    got: list[dict[str, Any]] = []
    start, end = ms(first), ms(last, 23, 55)
    async with serve(rest_app(universe, "fapi")) as client:
        pages = 0
        while start <= end:
            status, page, _ = await get(
                client,
                "/fapi/v1/klines",
                symbol="BTCUSDT",
                interval="5m",
                startTime=start,
                endTime=end,
                limit=250,
            )
            assert status == 200 and len(page) <= 250
            if not page:
                break
            got.extend(kline_values(a) for a in page)
            start = page[-1][0] + 1
            pages += 1
    assert pages == 5  # 4 days x 288 bars = 1152 = 4 full pages of 250 and one of 152
    assert got == expected


@pytest.mark.asyncio
async def test_end_time_is_inclusive_on_open_time(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        # endTime=00:01:59.999 returns the 00:00 and 00:01 bars (tracequant probe)
        _, body, _ = await get(
            client,
            "/fapi/v1/klines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=ms(DAY),
            endTime=ms(DAY, 0, 2) - 1,
        )
        assert [a[0] for a in body] == [ms(DAY), ms(DAY, 0, 1)]
        _, exact, _ = await get(
            client,
            "/fapi/v1/klines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=ms(DAY),
            endTime=ms(DAY, 0, 2),
        )
        assert [a[0] for a in exact] == [ms(DAY), ms(DAY, 0, 1), ms(DAY, 0, 2)]
        # only endTime: the `limit` bars ending there
        _, tail, _ = await get(
            client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", endTime=ms(DAY, 5), limit=3
        )
        assert [a[0] for a in tail] == [ms(DAY, 3), ms(DAY, 4), ms(DAY, 5)]


@pytest.mark.asyncio
async def test_latest_bars_are_closed_and_future_ranges_are_empty(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        _, latest, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit=5)
        assert latest[-1][0] == to_millis(NOW) - 3_600_000  # 11:00, closed at 12:00; never the open 12:00 bar
        assert all(a[6] < to_millis(NOW) for a in latest)
        assert len(latest) == 5
        status, future, _ = await get(
            client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", startTime=to_millis(NOW) + 86_400_000
        )
        assert (status, future) == (200, [])
        universe.clock.advance(dt.timedelta(hours=1))
        _, later, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit=1)
        assert later[0][0] == to_millis(NOW)


@pytest.mark.asyncio
async def test_default_and_max_limits_and_error_codes(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        _, default, headers = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m")
        assert len(default) == 500 and headers["X-MBX-USED-WEIGHT-1M"] == "5"
        status, most, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1500)
        assert status == 200 and len(most) == 1500
        status, body, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1501)
        assert (status, body) == (
            400,
            {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."},
        )
        status, body, _ = await get(client, "/fapi/v1/klines", symbol="NOPEUSDT", interval="1m")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, body, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="7m")
        assert (status, body["code"]) == (400, -1120)
        status, body, _ = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1s")
        assert (status, body["code"]) == (400, -1120)
        status, body, _ = await get(client, "/fapi/v1/klines", interval="1h")
        assert (status, body["code"]) == (400, -1102)


@pytest.mark.asyncio
async def test_dapi_two_hundred_day_window(universe: Universe) -> None:
    async with serve(rest_app(universe, "dapi")) as client:
        start = ms(dt.date(2025, 1, 1))
        status, body, _ = await get(
            client,
            "/dapi/v1/klines",
            symbol="BTCUSD_PERP",
            interval="1d",
            startTime=start,
            endTime=start + 201 * 86_400_000,
        )
        assert (status, body["code"]) == (400, -1127)
        # only startTime: the window ends 200 days later, so at most 201 daily bars come back
        _, bars, _ = await get(
            client, "/dapi/v1/klines", symbol="BTCUSD_PERP", interval="1d", startTime=start, limit=500
        )
        assert len(bars) == 201 and bars[-1][0] == start + 200 * 86_400_000


# --- funding ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_funding_rate_equals_ground_truth_with_mark_price(universe: Universe) -> None:
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(31)]
    expected = [r for d in days for r in table_rows(universe, Market.UM, "fundingRate", "BTCUSDT", None, d)]
    async with serve(rest_app(universe, "fapi")) as client:
        status, body, headers = await get(
            client,
            "/fapi/v1/fundingRate",
            symbol="BTCUSDT",
            startTime=ms(days[0]),
            endTime=ms(days[-1], 23, 59),
            limit=1000,
        )
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "0"
    assert [list(o) for o in body[:1]] == [["symbol", "fundingTime", "fundingRate", "markPrice", "rateType"]]
    assert [(o["fundingTime"] * 1000, float(o["fundingRate"])) for o in body] == [
        (r["calc_time"], r["last_funding_rate"]) for r in expected
    ]
    for o in body[:3]:
        mark = table_rows(
            universe, Market.UM, "markPriceKlines", "BTCUSDT", Interval.M1, dt.date(2026, 10, 1)
        )
        minute = o["fundingTime"] // 60_000 * 60_000 * 1000
        assert float(o["markPrice"]) == pytest.approx(
            next(m["open"] for m in mark if m["open_time"] == minute), abs=5e-9
        )


@pytest.mark.asyncio
async def test_funding_rate_defaults_and_delivery_symbols(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        _, recent, _ = await get(client, "/fapi/v1/fundingRate", symbol="BTCUSDT")
        assert len(recent) == 100 and recent[-1]["fundingTime"] <= to_millis(NOW)
        # startTime=0&endTime=now&limit=1 returns the earliest record (startTime + limit), documented rule
        _, first, _ = await get(
            client, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=0, endTime=to_millis(NOW), limit=1
        )
        assert first[0]["fundingTime"] < recent[0]["fundingTime"]
        status, body, _ = await get(client, "/fapi/v1/fundingRate", symbol="BTCUSDT", limit=1001)
        assert (status, body["code"]) == (400, -1130)
    async with serve(rest_app(universe, "dapi")) as client:
        assert (await get(client, "/dapi/v1/fundingRate", symbol="BTCUSD_261225"))[:2] == (200, [])
        _, perp, headers = await get(client, "/dapi/v1/fundingRate", symbol="BTCUSD_PERP", limit=5)
        assert len(perp) == 5 and headers["X-MBX-USED-WEIGHT-1M"] == "2"  # 1 + 1


# --- /futures/data ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_open_interest_history_equals_metrics_rows_of_the_last_30_days(universe: Universe) -> None:
    day = (NOW - dt.timedelta(days=3)).date()
    expected = [
        r
        for r in table_rows(universe, Market.UM, "metrics", "BTCUSDT", None, day)
        if day_start(day)
        <= dt.datetime.fromtimestamp(r["create_time"] / 1e6, UTC)
        < day_start(day + dt.timedelta(days=1))
    ]
    async with serve(rest_app(universe, "fapi")) as client:
        _, body, headers = await get(
            client,
            "/futures/data/openInterestHist",
            symbol="BTCUSDT",
            period="5m",
            startTime=ms(day),
            endTime=ms(day, 23, 55),
            limit=500,
        )
        assert headers["X-MBX-USED-WEIGHT-1M"] == "0"
        assert [
            (o["timestamp"] * 1000, float(o["sumOpenInterest"]), float(o["sumOpenInterestValue"]))
            for o in body
        ] == [(r["create_time"], r["sum_open_interest"], r["sum_open_interest_value"]) for r in expected]
        assert all(isinstance(o["timestamp"], int) for o in body)
        # older than 30 days: nothing
        old = (NOW - dt.timedelta(days=31)).date()
        assert (
            await get(
                client,
                "/futures/data/openInterestHist",
                symbol="BTCUSDT",
                period="5m",
                startTime=ms(old),
                endTime=ms(old, 12),
            )
        )[1] == []
        # default 30 rows, the latest, on the period's grid
        _, hourly, _ = await get(client, "/futures/data/openInterestHist", symbol="BTCUSDT", period="1h")
        assert len(hourly) == 30 and all(o["timestamp"] % 3_600_000 == 0 for o in hourly)
        assert hourly[-1]["timestamp"] <= to_millis(NOW)
        _, earliest, _ = await get(
            client, "/futures/data/openInterestHist", symbol="BTCUSDT", period="1d", startTime=0, limit=500
        )
        assert earliest[0]["timestamp"] >= to_millis(NOW - dt.timedelta(days=30))
        status, body, _ = await get(
            client, "/futures/data/openInterestHist", symbol="BTCUSDT", period="5m", limit=501
        )
        assert (status, body["code"]) == (400, -1130)


@pytest.mark.asyncio
async def test_ratio_endpoints_shapes(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        for path, keys in (
            (
                "topLongShortAccountRatio",
                ["symbol", "longShortRatio", "longAccount", "shortAccount", "timestamp"],
            ),
            (
                "topLongShortPositionRatio",
                ["symbol", "longAccount", "longShortRatio", "shortAccount", "timestamp"],
            ),
            (
                "globalLongShortAccountRatio",
                ["symbol", "longShortRatio", "longAccount", "shortAccount", "timestamp"],
            ),
            ("takerlongshortRatio", ["buySellRatio", "sellVol", "buyVol", "timestamp"]),
        ):
            status, body, _ = await get(
                client, f"/futures/data/{path}", symbol="BTCUSDT", period="1h", limit=3
            )
            assert status == 200 and body and all(list(o) == keys for o in body), path
            if "longAccount" in keys:
                o = body[0]
                assert float(o["longAccount"]) + float(o["shortAccount"]) == pytest.approx(1, abs=2e-4)
                assert float(o["longAccount"]) / float(o["shortAccount"]) == pytest.approx(
                    float(o["longShortRatio"]), rel=1e-2
                )
    async with serve(rest_app(universe, "dapi")) as client:
        day = (NOW - dt.timedelta(days=2)).date()
        expected = table_rows(universe, Market.CM, "metrics", "BTCUSD_PERP", None, day)
        _, oi, _ = await get(
            client,
            "/futures/data/openInterestHist",
            pair="BTCUSD",
            contractType="PERPETUAL",
            period="5m",
            startTime=ms(day),
            endTime=ms(day, 23, 55),
            limit=500,
        )
        assert list(oi[0]) == ["contractType", "sumOpenInterest", "sumOpenInterestValue", "pair", "timestamp"]
        assert [(o["timestamp"] * 1000, float(o["sumOpenInterest"])) for o in oi] == [
            (r["create_time"], r["sum_open_interest"]) for r in expected
        ]
        _, taker, _ = await get(
            client, "/futures/data/takerBuySellVol", pair="BTCUSD", contractType="ALL", period="1h", limit=2
        )
        assert all(
            list(o)
            == [
                "takerBuyVolValue",
                "contractType",
                "takerSellVol",
                "takerSellVolValue",
                "takerBuyVol",
                "pair",
                "timestamp",
            ]
            for o in taker
        )
        status, body, _ = await get(
            client, "/futures/data/openInterestHist", pair="BTCUSD", contractType="WEEKLY", period="5m"
        )
        assert (status, body["code"]) == (400, -1130)


# --- exchangeInfo ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_exchange_info_fields(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        _, um, _ = await get(client, "/fapi/v1/exchangeInfo")
    async with serve(rest_app(universe, "dapi")) as client:
        _, cm, _ = await get(client, "/dapi/v1/exchangeInfo")
    async with serve(rest_app(universe, "spot")) as client:
        _, spot, _ = await get(client, "/api/v3/exchangeInfo")
    assert {"interval": "MINUTE", "intervalNum": 1, "limit": 2400, "rateLimitType": "REQUEST_WEIGHT"} in um[
        "rateLimits"
    ]
    by = {s["symbol"]: s for s in um["symbols"]}
    assert by["BTCUSDT"]["status"] == "TRADING" and by["BTCUSDT"]["deliveryDate"] == PERPETUAL_DELIVERY_MS
    assert by["BTCUSDT"]["onboardDate"] == ms(dt.date(2019, 9, 8), 8)
    assert by["XEMUSDT"]["status"] not in ("TRADING", "PENDING_TRADING")  # delisted symbols stay listed
    assert (
        by["BTCUSDT_230929"]["status"] == "DELIVERED"
        and by["BTCUSDT_230929"]["contractType"] == "CURRENT_QUARTER"
    )
    assert {s["symbol"] for s in um["symbols"]} == {s.symbol for s in universe.symbols(Market.UM)}
    cm_by = {s["symbol"]: s for s in cm["symbols"]}
    assert "status" not in cm_by["BTCUSD_PERP"] and cm_by["BTCUSD_PERP"]["contractStatus"] == "TRADING"
    assert cm_by["BTCUSD_PERP"]["contractSize"] == 100 and cm_by["ETHUSD_PERP"]["contractSize"] == 10
    assert cm_by["BTCUSD_PERP"]["deliveryDate"] == PERPETUAL_DELIVERY_MS
    spot_by = {s["symbol"]: s["status"] for s in spot["symbols"]}
    assert spot_by["BTCUSDT"] == "TRADING" and spot_by["ADABKRW"] == "BREAK"


@pytest.mark.asyncio
async def test_premium_index(universe: Universe) -> None:
    async with serve(rest_app(universe, "fapi")) as client:
        _, one, headers = await get(client, "/fapi/v1/premiumIndex", symbol="BTCUSDT")
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert list(one) == [
            "symbol",
            "markPrice",
            "indexPrice",
            "estimatedSettlePrice",
            "lastFundingRate",
            "interestRate",
            "nextFundingTime",
            "time",
        ]
        assert one["nextFundingTime"] > to_millis(NOW) and one["time"] == to_millis(NOW)
        _, every, headers = await get(client, "/fapi/v1/premiumIndex")
        assert headers["X-MBX-USED-WEIGHT-1M"] == "11"
        assert "BTCUSDT" in {o["symbol"] for o in every} and "XEMUSDT" not in {o["symbol"] for o in every}


# --- weights and limits --------------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_weight_header_arithmetic_and_429_418_and_reset(universe: Universe) -> None:
    clock = FakeMonotonic()
    app = rest_app(universe, "fapi", limits=RestLimits(weight_per_minute=12, ban_after=2), monotonic=clock)
    async with serve(app) as client:
        used = []
        for limit in (1, 100, 500):  # weights 1, 2, 5
            _, _, headers = await get(client, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit=limit)
            used.append(int(headers["X-MBX-USED-WEIGHT-1M"]))
        assert used == [1, 3, 8]
        clock.now += 10
        for expected in (9, 10, 11, 12):
            _, _, headers = await get(client, "/fapi/v1/ping")
            assert headers["X-MBX-USED-WEIGHT-1M"] == str(expected)
        status, body, headers = await get(client, "/fapi/v1/ping")
        assert (
            status == 429 and body["code"] == -1003 and "current limit of IP(127.0.0.1) is 12" in body["msg"]
        )
        assert headers["Retry-After"] == "50"  # the first request's weight leaves the window 60 s after it
        assert (await get(client, "/fapi/v1/ping"))[0] == 429
        status, body, headers = await get(client, "/fapi/v1/ping")
        assert status == 418 and "banned until" in body["msg"] and headers["Retry-After"] == "120"
        clock.now += 119
        assert (await get(client, "/fapi/v1/ping"))[0] == 418
        clock.now += 1
        status, _, headers = await get(client, "/fapi/v1/ping")
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "1"


@pytest.mark.asyncio
async def test_hosts_do_not_share_limits(universe: Universe) -> None:
    clock = FakeMonotonic()
    limits = RestLimits(weight_per_minute=1)
    async with (
        serve(rest_app(universe, "fapi", limits=limits, monotonic=clock)) as fapi,
        serve(rest_app(universe, "spot", limits=limits, monotonic=clock)) as spot,
    ):
        assert (await get(fapi, "/fapi/v1/ping"))[0] == 200
        assert (await get(fapi, "/fapi/v1/ping"))[0] == 429
        assert (await get(spot, "/api/v3/ping"))[0] == 200


@pytest.mark.asyncio
async def test_restricted_mode_answers_451_everywhere(universe: Universe) -> None:
    async with serve(rest_app(universe, "dapi", limits=RestLimits(restricted=True))) as client:
        for path in ("/dapi/v1/klines", "/dapi/v1/exchangeInfo", "/futures/data/openInterestHist"):
            status, body, _ = await get(client, path, symbol="BTCUSD_PERP", interval="1h")
            assert status == 451 and body["code"] == 0 and "restricted location" in body["msg"]


def test_unknown_service_is_refused(universe: Universe) -> None:
    with pytest.raises(ValueError, match="unknown REST service"):
        rest_app(universe, "sapi")


def test_a_restricted_simulator_answers_451_on_every_rest_host() -> None:
    import urllib.error
    import urllib.request

    from binance_lake.sim.rest_weights import RestLimits
    from binance_lake.sim.server import SimServer

    with SimServer(Universe.build("small"), rest_limits=RestLimits(restricted=True)) as server:
        for base in (
            "/sim-fapi/fapi/v1/exchangeInfo",
            "/sim-dapi/dapi/v1/exchangeInfo",
            "/sim-spot/api/v3/exchangeInfo",
        ):
            try:
                urllib.request.urlopen(server.base_url + base, timeout=10)
                raise AssertionError(f"{base} answered")
            except urllib.error.HTTPError as error:
                assert error.code == 451
                assert b"restricted location" in error.read()
                error.close()
