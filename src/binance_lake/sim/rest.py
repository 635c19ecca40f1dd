"""The simulated REST market-data APIs - fapi (USDⓈ-M), dapi (COIN-M) and spot - as aiohttp sub-applications.

`rest_app(universe, "fapi" | "dapi" | "spot")` serves the real paths (`/fapi/v1/klines`, `/dapi/v1/fundingRate`,
`/api/v3/klines`, `/futures/data/openInterestHist`, ...) over the universe's day tables, in the wire shapes of
reference §4. Every answer carries `X-MBX-USED-WEIGHT-1M`; weights are accounted per client IP over a
rolling minute of the injected `monotonic` clock (never the simulated market clock), with 429, 418 bans
and a 451 "restricted location" mode as Binance does them. The three hosts never share limits.

Kline choices (reference §4.2 and the tracequant probe): `endTime` is inclusive on open time; startTime
only -> forward from it; endTime only -> the `limit` bars ending there; neither -> the latest `limit` bars.
A bar is served only once it has closed by the simulated clock: the real API also returns the open bar
with partial values, the simulator does not (so a REST day always equals the archive day).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from binance_lake.core.datasets import KLINE_FAMILY
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim import content, rest_trades
from binance_lake.sim import rest_params as params
from binance_lake.sim import rest_statistics as stats
from binance_lake.sim import rest_ticker as ticker
from binance_lake.sim.rest_format import (
    RESTRICTED_BODY,
    JsonObject,
    archive_text,
    banned_body,
    error_body,
    fixed,
    funding_object,
    kline_array,
    rate_limits,
    too_many_requests_body,
)
from binance_lake.sim.rest_params import RestError
from binance_lake.sim.rest_series import (
    NO_END,
    US_PER_MS,
    DayTables,
    Row,
    Window,
    bar_days,
    collect,
    day_of,
    last_closed_open_us,
    to_us,
    value_at,
)
from binance_lake.sim.rest_weights import Outcome, RestLimits, WeightLedger, kline_weight
from binance_lake.sim.universe import SimSymbol, Universe

SERVICES = ("fapi", "dapi", "spot")
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
KLINE_DEFAULT_LIMIT = 500
FUNDING_DEFAULT_LIMIT = 100
FUNDING_MAX_LIMIT = 1000
# dapi klines: "The difference between startTime and endTime can only be up to 200 days" (reference §4.4).
DAPI_MAX_SPAN_US = 200 * 86_400_000_000
# How far back a "latest value" lookup (premiumIndex) walks.
LATEST_LOOKBACK = dt.timedelta(days=40)


@dataclass
class RestRevisions:
    """Bars whose REST values differ from the archive's, as when Binance revises a bar after REST served it:
    `(market, dataset, symbol, interval, open_time_ms) -> {column: value}`. Tests add entries to check that a
    REST-provisional day replaced by the archive is reconciled with exactly this difference."""

    bars: dict[tuple[str, str, str, str, int], dict[str, float]] = field(default_factory=dict)

    def revise(
        self, market: Market, dataset: str, symbol: str, interval: Interval, open_ms: int, **values: float
    ) -> None:
        self.bars[(market.value, dataset, symbol, interval.value, open_ms)] = dict(values)

    def apply(
        self, market: Market, dataset: str, symbol: str, interval: Interval, rows: list[Row]
    ) -> list[Row]:
        if not self.bars:
            return rows
        revised: list[Row] = []
        for row in rows:
            change = self.bars.get(
                (market.value, dataset, symbol, interval.value, int(row["open_time"]) // 1000)
            )
            revised.append({**row, **change} if change else row)
        return revised


@dataclass(frozen=True)
class Charge:
    """What one request costs: weight toward the minute limit, and optionally one hit on a named bucket."""

    weight: int
    bucket: str | None = None


@dataclass(frozen=True)
class _Service:
    name: str
    market: Market
    prefix: str
    weight_per_minute: int  # the real REQUEST_WEIGHT limit
    kline_max: int


_SERVICES: Mapping[str, _Service] = {
    "fapi": _Service("fapi", Market.UM, "/fapi/v1", 2400, 1500),
    "dapi": _Service("dapi", Market.CM, "/dapi/v1", 2400, 1500),
    # Spot is not in the reference: its published limit is 6000 weight/min and klines cap at 1000 rows
    # (developers.binance.com spot "General API Information" / "Market data endpoints") [UNCERTAIN].
    "spot": _Service("spot", Market.SPOT, "/api/v3", 6000, 1000),
}

_dumps = functools.partial(json.dumps, separators=(",", ":"))
Weigh = Callable[[Mapping[str, str]], Charge]
Body = Callable[[web.Request], Any]


def rest_app(
    universe: Universe,
    service: str,
    *,
    limits: RestLimits | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    revisions: RestRevisions | None = None,
) -> web.Application:
    """The aiohttp application of one REST host (`service` in fapi, dapi, spot) over `universe`."""
    if service not in _SERVICES:
        raise ValueError(f"unknown REST service {service!r}; expected one of {', '.join(SERVICES)}")
    host = _Host(universe, _SERVICES[service], limits or RestLimits(), monotonic)
    host.revisions = revisions or RestRevisions()
    app = web.Application()
    for path, weigh, body in host.routes():
        app.router.add_get(path, host.endpoint(weigh, body))
    return app


def _fixed_weight(weight: int, bucket: str | None = None) -> Weigh:
    charge = Charge(weight, bucket)
    return lambda _query: charge


class _Host:
    """One REST host: its service, its universe view and its weight ledger."""

    def __init__(
        self, universe: Universe, service: _Service, limits: RestLimits, monotonic: Callable[[], float]
    ) -> None:
        self.universe = universe
        self.service = service
        self.market = service.market
        self.limits = limits
        self.monotonic = monotonic
        self.weight_limit = limits.weight_per_minute or service.weight_per_minute
        self.ledger = WeightLedger(self.weight_limit, limits)
        self.tables = DayTables(universe)
        self.revisions = RestRevisions()

    # --- plumbing ----------------------------------------------------------------------------------------

    def endpoint(self, weigh: Weigh, body: Body) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if self.limits.restricted:
                return web.json_response(RESTRICTED_BODY, status=451, dumps=_dumps)
            ip = request.remote or "127.0.0.1"
            charge = weigh(request.query)
            verdict = self.ledger.charge(ip, charge.weight, self.monotonic(), charge.bucket)
            headers = {WEIGHT_HEADER: str(verdict.used_weight)}
            if verdict.outcome is Outcome.BANNED:
                headers["Retry-After"] = str(verdict.retry_after)
                until_ms = to_us(self._now()) // US_PER_MS + int(verdict.banned_for * 1000)
                return web.json_response(banned_body(ip, until_ms), status=418, headers=headers, dumps=_dumps)
            if verdict.outcome is Outcome.LIMITED:
                headers["Retry-After"] = str(verdict.retry_after)
                body_429 = too_many_requests_body(ip, self.weight_limit)
                return web.json_response(body_429, status=429, headers=headers, dumps=_dumps)
            try:
                payload = body(request)
            except RestError as error:
                return web.json_response(
                    error_body(error.code, error.msg), status=error.status, headers=headers, dumps=_dumps
                )
            return web.json_response(payload, headers=headers, dumps=_dumps)

        return handle

    def _now(self) -> dt.datetime:
        return self.universe.clock.now()

    def routes(self) -> list[tuple[str, Weigh, Body]]:
        p = self.service.prefix
        routes: list[tuple[str, Weigh, Body]] = [
            (f"{p}/ping", _fixed_weight(1), lambda _r: {}),
            (f"{p}/time", _fixed_weight(1), lambda _r: {"serverTime": to_us(self._now()) // US_PER_MS}),
            (f"{p}/exchangeInfo", _fixed_weight(20 if self.market is Market.SPOT else 1), self.exchange_info),
            (f"{p}/ticker/24hr", self._ticker_weight, self.ticker_24hr),
        ]
        if self.market is Market.SPOT:
            routes.append((f"{p}/klines", _fixed_weight(2), functools.partial(self.klines, dataset="klines")))
            return routes
        for dataset in KLINE_FAMILY:
            routes.append(
                (f"{p}/{dataset}", self._kline_weight, functools.partial(self.klines, dataset=dataset))
            )
        um = self.market is Market.UM
        # UM fundingRate "share 500/5min/IP rate limit with GET /fapi/v1/fundingInfo"; dapi weighs 1 (§4.2, §4.4).
        routes.append(
            (f"{p}/fundingRate", _fixed_weight(0, "funding") if um else _fixed_weight(1), self.funding_rate)
        )
        routes.append((f"{p}/premiumIndex", self._premium_index_weight, self.premium_index))
        routes.append(
            (
                f"{p}/aggTrades",
                _fixed_weight(rest_trades.AGG_WEIGHT),
                lambda r: rest_trades.agg_trades(
                    self.universe, self.market, self._symbol(r.query), r.query, self._now()
                ),
            )
        )
        # UM /futures/data weighs 0 (older docs: 1000 requests/5min/IP); dapi's weigh 1 (§4.2, §4.4).
        data_weight = _fixed_weight(0, "futures_data") if um else _fixed_weight(1)
        for endpoint in stats.UM_ENDPOINTS if um else stats.CM_ENDPOINTS:
            routes.append(
                (
                    f"/futures/data/{endpoint}",
                    data_weight,
                    functools.partial(self.statistics, endpoint=endpoint),
                )
            )
        return routes

    def _ticker_weight(self, query: Mapping[str, str]) -> Charge:
        return Charge(ticker.ticker_weight(self.market, bool(query.get("symbol"))))

    def ticker_24hr(self, request: web.Request) -> JsonObject | list[JsonObject]:
        """24 h statistics over the last 24 closed hourly bars (`sim/rest_ticker.py`)."""
        now = self._now()
        window = Window.of(
            None, None, ticker.WINDOW_BARS, lo_us=0, hi_us=last_closed_open_us(ticker.HOURLY, now)
        )

        def bars(symbol: SimSymbol) -> list[Row]:
            return self._bars("klines", symbol.symbol, ticker.HOURLY, window, [symbol])

        def decimals(symbol: SimSymbol) -> dict[str, int]:
            return content.decimals(self.universe, self.market, "klines", symbol.symbol)

        if request.query.get("symbol"):
            found = ticker.tickers(self.market, [self._symbol(request.query)], bars, decimals)
            if not found:
                raise params.invalid_symbol()
            return found[0]
        listed = [s for s in self.universe.symbols(self.market) if s.onboard_ms <= self._now_ms()]
        return ticker.tickers(self.market, listed, bars, decimals)

    def _kline_weight(self, query: Mapping[str, str]) -> Charge:
        return Charge(
            kline_weight(params.limit_or_default(query, KLINE_DEFAULT_LIMIT, self.service.kline_max))
        )

    @staticmethod
    def _premium_index_weight(query: Mapping[str, str]) -> Charge:
        # 1 with a symbol; third parties say 10 for all symbols [UNCERTAIN] (reference §4.2).
        return Charge(1 if query.get("symbol") or query.get("pair") else 10)

    # --- symbols -----------------------------------------------------------------------------------------

    def _symbol(self, query: Mapping[str, str]) -> SimSymbol:
        name = params.required(query, "symbol").upper()
        found = self.universe.symbol(self.market, name)
        if found is None or found.onboard_ms > to_us(self._now()) // US_PER_MS:
            raise params.invalid_symbol()
        return found

    def _pair_symbols(self, pair: str) -> list[SimSymbol]:
        return [s for s in self.universe.symbols(self.market) if s.pair == pair]

    def _last_day(self, symbols: Sequence[SimSymbol]) -> dt.date:
        today = self._now().date()
        if any(s.delisted is None for s in symbols):
            return today
        return min(today, max(s.delisted for s in symbols if s.delisted is not None))

    # --- klines ------------------------------------------------------------------------------------------

    def _time_divisor(self, request: web.Request) -> int:
        """Spot answers in µs when asked (`X-MBX-TIME-UNIT` header or `timeUnit`); everything else in ms."""
        if self.market is Market.SPOT:
            unit = request.headers.get("X-MBX-TIME-UNIT") or request.query.get("timeUnit") or ""
            if unit.upper() == "MICROSECOND":
                return 1
        return US_PER_MS

    def klines(self, request: web.Request, *, dataset: str) -> list[list[Any]]:
        query = request.query
        if dataset == "indexPriceKlines":
            name = params.required(query, "pair").upper()
            owners = self._pair_symbols(name)
            if not owners:
                raise params.invalid_symbol()
        else:
            owners = [self._symbol(query)]
            name = owners[0].symbol
        interval = params.interval(query, self.market)
        limit = params.limit(query, KLINE_DEFAULT_LIMIT, self.service.kline_max)
        divisor = self._time_divisor(request)
        start, end = params.time_range(query)
        start_us = None if start is None else start * divisor
        end_us = None if end is None else end * divisor
        if self.market is Market.CM:
            start_us, end_us = _dapi_span(start_us, end_us)
        now = self._now()
        window = Window.of(start_us, end_us, limit, lo_us=0, hi_us=last_closed_open_us(interval, now))
        rows = self.revisions.apply(
            self.market, dataset, name, interval, self._bars(dataset, name, interval, window, owners)
        )
        decimals = content.decimals(self.universe, self.market, dataset, name)
        return [kline_array(row, decimals, divisor) for row in rows]

    def _bars(
        self, dataset: str, name: str, interval: Interval, window: Window, owners: Sequence[SimSymbol]
    ) -> list[Row]:
        return collect(
            lambda day: self.tables.get(self.market, dataset, name, interval, day),
            "open_time",
            window,
            first_day=min(s.listed for s in owners),
            last_day=self._last_day(owners),
            day_has_rows=bar_days(interval),
        )

    # --- funding -----------------------------------------------------------------------------------------

    def funding_rate(self, request: web.Request) -> list[JsonObject]:
        query = request.query
        limit = params.limit(query, FUNDING_DEFAULT_LIMIT, FUNDING_MAX_LIMIT)
        start, end = params.time_range(query)
        if self.market is Market.UM and not query.get("symbol"):
            symbols = [s for s in self.universe.symbols(self.market) if s.onboard_ms <= self._now_ms()]
        else:
            symbols = [self._symbol(query)]
        if self.market is Market.CM and symbols[0].contract_type != "PERPETUAL":
            return []  # "empty array will be returned for delivery symbols" (reference §4.4)
        window = Window.of(
            None if start is None else start * US_PER_MS,
            None if end is None else end * US_PER_MS,
            limit,
            lo_us=0,
            hi_us=to_us(self._now()),
        )
        records: list[tuple[int, str, Row]] = []
        for symbol in symbols:
            for row in self._funding_rows(symbol, window):
                records.append((row["calc_time"], symbol.symbol, row))
        records.sort(key=lambda r: (r[0], r[1]))
        records = records[:limit] if window.forward else records[-limit:]
        rate_decimals = {
            s.symbol: content.decimals(self.universe, self.market, "fundingRate", s.symbol)[
                "last_funding_rate"
            ]
            for s in symbols
        }
        return [
            funding_object(
                symbol,
                t // US_PER_MS,
                archive_text(float(row["last_funding_rate"]), rate_decimals[symbol]),
                self._mark_price(symbol, t),
            )
            for t, symbol, row in records
        ]

    def _funding_rows(self, symbol: SimSymbol, window: Window) -> list[Row]:
        return collect(
            lambda day: self.tables.get(self.market, "fundingRate", symbol.symbol, None, day),
            "calc_time",
            window,
            first_day=symbol.listed,
            last_day=self._last_day([symbol]),
        )

    def _mark_price(self, symbol: str, at_us: int) -> float | None:
        """The mark price at a funding time: the open of the 1m mark-price bar that holds it."""
        table = self.tables.get(self.market, "markPriceKlines", symbol, Interval.M1, day_of(at_us))
        return value_at(table, "open_time", "open", at_us)

    def _now_ms(self) -> int:
        return to_us(self._now()) // US_PER_MS

    # --- premiumIndex ------------------------------------------------------------------------------------

    def premium_index(self, request: web.Request) -> JsonObject | list[JsonObject]:
        query = request.query
        now = self._now()
        if query.get("symbol"):
            one = self._premium_object(self._symbol(query), now)
            return [one] if self.market is Market.CM else one
        symbols = self.universe.symbols(self.market)
        if self.market is Market.CM and query.get("pair"):
            symbols = tuple(self._pair_symbols(query["pair"].upper()))
        return [self._premium_object(s, now) for s in symbols if s.status(now) == "TRADING"]

    def _latest(
        self, dataset: str, name: str, interval: Interval | None, time_column: str, now: dt.datetime
    ) -> Row | None:
        hi = to_us(now) if interval is None else last_closed_open_us(interval, now)
        rows = collect(
            lambda day: self.tables.get(self.market, dataset, name, interval, day),
            time_column,
            Window(0, hi, 1, forward=False),
            first_day=now.date() - LATEST_LOOKBACK,
            last_day=now.date(),
        )
        return rows[-1] if rows else None

    def _premium_object(self, symbol: SimSymbol, now: dt.datetime) -> JsonObject:
        mark = self._latest("markPriceKlines", symbol.symbol, Interval.M1, "open_time", now)
        index = self._latest("indexPriceKlines", symbol.pair, Interval.M1, "open_time", now)
        funding = self._latest("fundingRate", symbol.symbol, None, "calc_time", now)
        mark_price = fixed(float(mark["close"]), 8) if mark else ""
        obj: JsonObject = {"symbol": symbol.symbol}
        if self.market is Market.CM:
            obj["pair"] = symbol.pair
        obj.update(
            {
                "markPrice": mark_price,
                "indexPrice": fixed(float(index["close"]), 8) if index else "",
                "estimatedSettlePrice": mark_price,
                "lastFundingRate": fixed(float(funding["last_funding_rate"]), 8) if funding else "",
                "interestRate": "0.00010000" if funding else "",
                "nextFundingTime": _next_funding_ms(funding, now) if funding else 0,
                "time": to_us(now) // US_PER_MS,
            }
        )
        return obj

    # --- exchangeInfo ------------------------------------------------------------------------------------

    def exchange_info(self, request: web.Request) -> JsonObject:
        now = self._now()
        listed = [s for s in self.universe.symbols(self.market) if s.onboard_ms <= to_us(now) // US_PER_MS]
        info: JsonObject = {"timezone": "UTC", "serverTime": to_us(now) // US_PER_MS}
        if self.market is Market.SPOT:
            wanted = request.query.get("symbol")
            if wanted:
                listed = [s for s in listed if s.symbol == wanted.upper()]
                if not listed:
                    raise params.invalid_symbol()
            info["rateLimits"] = _spot_rate_limits(self.weight_limit)
            info["exchangeFilters"] = []
            info["symbols"] = [_spot_symbol(s, now) for s in listed]
            return info
        if self.market is Market.UM:
            info["futuresType"] = "U_MARGINED"
        info["rateLimits"] = rate_limits(self.weight_limit)
        info["exchangeFilters"] = []
        info["symbols"] = [_futures_symbol(s, now) for s in listed]
        return info

    # --- /futures/data -----------------------------------------------------------------------------------

    def statistics(self, request: web.Request, *, endpoint: str) -> list[JsonObject]:
        query = request.query
        period = params.period_minutes(query)
        limit = params.limit(query, stats.DEFAULT_LIMIT, stats.MAX_LIMIT)
        start, end = params.time_range(query)
        now = self._now()
        request_window = stats.StatisticsQuery.of(now, period, start, end, limit)
        if self.market is Market.UM:
            return stats.um_statistics(endpoint, self.tables, self._symbol(query), request_window, now)
        pair = params.required(query, "pair").upper()
        symbols = self._pair_symbols(pair)
        if not symbols:
            raise params.invalid_symbol()
        if endpoint in ("openInterestHist", "takerBuySellVol"):
            contract_type = params.required(query, "contractType").upper()
            if contract_type not in stats.CM_CONTRACT_TYPES:
                raise params.not_valid("contractType")
            chosen = stats.cm_symbols(symbols, pair, contract_type)
            if endpoint == "openInterestHist":
                return stats.cm_open_interest(self.tables, chosen, pair, contract_type, request_window, now)
            return stats.cm_taker(self.tables, chosen, pair, contract_type, request_window, now)
        perpetuals = stats.cm_symbols(symbols, pair, "PERPETUAL")
        if not perpetuals:
            return []
        return stats.cm_ratio(endpoint, self.tables, perpetuals[0], request_window, now)


def _dapi_span(start_us: int | None, end_us: int | None) -> tuple[int | None, int | None]:
    """dapi's 200-day rule: only startTime -> end = start + 200d; only endTime -> start = end - 200d."""
    if start_us is not None and end_us is not None:
        if end_us - start_us > DAPI_MAX_SPAN_US:
            raise RestError(-1127, "Lookup interval is too big.")
        return start_us, end_us
    if start_us is not None:
        return start_us, start_us + DAPI_MAX_SPAN_US
    if end_us is not None:
        return max(0, end_us - DAPI_MAX_SPAN_US), end_us
    return None, None


def _next_funding_ms(funding: Row, now: dt.datetime) -> int:
    """The next funding time after `now`, on the latest record's interval grid (calc_time minus jitter)."""
    step = int(funding.get("funding_interval_hours") or 8) * 3_600_000
    last = int(funding["calc_time"]) // US_PER_MS // 3_600_000 * 3_600_000
    now_ms = to_us(now) // US_PER_MS
    nxt = last + step
    while nxt <= now_ms:
        nxt += step
    return min(nxt, NO_END // US_PER_MS)


def _futures_symbol(s: SimSymbol, now: dt.datetime) -> JsonObject:
    """One exchangeInfo symbol in the shape of the doc examples (reference §4.3): CM says `contractStatus`
    where UM says `status`, and adds `contractSize`."""
    status_key = "contractStatus" if s.market is Market.CM else "status"
    obj: JsonObject = {
        "symbol": s.symbol,
        "pair": s.pair,
        "contractType": s.contract_type or "",
        "deliveryDate": s.delivery_ms,
        "onboardDate": s.onboard_ms,
        status_key: s.status(now),
    }
    if s.market is Market.CM:
        obj["contractSize"] = s.contract_size
    obj.update(
        {
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": s.base_asset,
            "quoteAsset": s.quote_asset,
            "marginAsset": s.margin_asset,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "filters": [],
        }
    )
    return obj


def _spot_symbol(s: SimSymbol, now: dt.datetime) -> JsonObject:
    return {
        "symbol": s.symbol,
        "status": s.status(now),
        "baseAsset": s.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": s.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [],
        "permissions": [],
    }


def _spot_rate_limits(weight_per_minute: int) -> list[JsonObject]:
    """Spot `rateLimits`, in the spot docs' key order (`rateLimitType` first)."""
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight_per_minute,
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
