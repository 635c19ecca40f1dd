"""The REST market-data client: JSON GETs to fapi, dapi and api under one weight budget per host.

Every request first takes its documented weight from its host's `WeightBudget` (`binance/rest_weight.py`)
and runs under a bounded number of requests in flight. Answers are read here, at the edge:
- 200: the JSON; `X-MBX-USED-WEIGHT-1M` goes back to the budget;
- 429: the host pauses for `Retry-After`, then the request is sent again (reference §4.1: retrying sooner
  is what gets an IP banned);
- 418: the host is closed for the run and the request fails with `IpBanned`, naming when the ban ends;
- 451: `Restricted`, one sentence naming the setting that changes the endpoint;
- 400 with code -1121: `UsageError`, "not a symbol of ..." (one sentence);
- 5xx and dropped connections: retried with backoff (`binance/retry.py`'s policy).
The session is the caller's (`binance/clients.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from binance_lake.binance.http import as_url, error_for_status, read_body, translate_errors
from binance_lake.binance.rest_weight import (
    DEFAULT_SHARE,
    WEIGHT_HEADER,
    WEIGHT_LIMIT,
    Clock,
    Sleep,
    WeightBudget,
)
from binance_lake.binance.retry import RetryPolicy
from binance_lake.core.errors import IpBanned, RateLimited, ServerError, UsageError, is_transient
from binance_lake.core.settings import ENV_NAMES, Settings
from binance_lake.core.vocabulary import Market

MAX_BODY = 32 * 1024 * 1024
DEFAULT_CONCURRENCY = 8
MAX_RATE_LIMIT_WAITS = 20  # 429s one request may wait out before the run gives up on it
INVALID_SYMBOL = -1121
SPOT_WEIGHT_LIMIT = 6000  # spot's REQUEST_WEIGHT per minute [UNCERTAIN in the reference]


@dataclass(frozen=True)
class RequestBucket:
    """A request-count limit of some endpoints beside the weight: `requests` per `seconds` per IP."""

    name: str
    requests: int
    seconds: float


# UM `/futures/data/*` once documented "IP rate limit 1000 requests/5min" (reference §4.2); UM fundingRate
# "share 500/5min/IP rate limit with GET /fapi/v1/fundingInfo". Both are kept below the run's share.
FUTURES_DATA_BUCKET = RequestBucket("futures_data", 1000, 300.0)
FUNDING_BUCKET = RequestBucket("funding", 500, 300.0)


@dataclass(frozen=True)
class Host:
    """One REST host: the `Settings` field with its base URL and its API prefix."""

    setting: str
    prefix: str

    @property
    def env(self) -> str:
        return ENV_NAMES[self.setting]


HOSTS: Mapping[Market, Host] = {
    Market.UM: Host("fapi_url", "/fapi/v1"),
    Market.CM: Host("dapi_url", "/dapi/v1"),
    Market.SPOT: Host("spot_api_url", "/api/v3"),
}


def host_for(market: Market) -> Host:
    try:
        return HOSTS[market]
    except KeyError:
        raise UsageError(f"market {market.value} has no REST market-data API") from None


def _ban_end(retry_after: float | None) -> str:
    if retry_after is None:
        return "an unknown time"
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_after)
    return end.strftime("%Y-%m-%d %H:%M:%S UTC")


class MarketRestClient:
    """GETs JSON from the REST host of each market, one weight budget a host, `concurrency` in flight."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        share: float = DEFAULT_SHARE,
        weight_limit: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        request_buckets: Mapping[str, RequestBucket] | None = None,
    ) -> None:
        self.session = session
        # Replaces a documented request bucket by name (tests use small ones).
        self.request_buckets = dict(request_buckets or {})
        self.settings = settings
        self.share = share
        # The host's REQUEST_WEIGHT per minute: 2400 on fapi/dapi, 6000 on spot (reference §4.1), unless told.
        self.weight_limit = weight_limit
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.sleep = sleep
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.budgets: dict[Market, WeightBudget] = {}
        self.buckets: dict[tuple[Market, str], WeightBudget] = {}
        self.bucket_requests: dict[str, int] = {}  # requests sent under each request bucket
        self.requests = 0
        self.weight = 0  # documented weight of every request sent

    def budget(self, market: Market) -> WeightBudget:
        found = self.budgets.get(market)
        if found is None:
            limit = self.weight_limit or (SPOT_WEIGHT_LIMIT if market is Market.SPOT else WEIGHT_LIMIT)
            found = WeightBudget(
                host_for(market).setting, limit=limit, share=self.share, clock=self.clock, sleep=self.sleep
            )
            self.budgets[market] = found
        return found

    def bucket(self, market: Market, bucket: RequestBucket) -> WeightBudget:
        """The request-count budget of `bucket` on `market`'s host (each request weighs 1 in it)."""
        found = self.buckets.get((market, bucket.name))
        if found is None:
            bucket = self.request_buckets.get(bucket.name, bucket)
            found = WeightBudget(
                f"{host_for(market).setting} {bucket.name}",
                limit=bucket.requests,
                share=self.share,
                window=bucket.seconds,
                clock=self.clock,
                sleep=self.sleep,
            )
            self.buckets[(market, bucket.name)] = found
        return found

    def url(self, market: Market, path: str) -> str:
        """`path` on the market's host: `/klines` under the API prefix, `/futures/data/...` as it is."""
        host = host_for(market)
        base = str(getattr(self.settings, host.setting)).rstrip("/")
        return base + (path if path.startswith("/futures/") else host.prefix + path)

    async def get(
        self,
        market: Market,
        path: str,
        params: Mapping[str, str | int],
        *,
        weight: int,
        headers: Mapping[str, str] | None = None,
        bucket: RequestBucket | None = None,
    ) -> Any:
        """The JSON answer of GET `path` with `params` on `market`'s host, under its weight budget (and the
        request count of `bucket`, when the endpoint has one)."""
        budget = self.budget(market)
        counted = self.bucket(market, bucket) if bucket is not None else None
        url = self.url(market, path)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        full = f"{url}?{query}" if query else url
        setting = host_for(market).env
        attempt = 0
        waits = 0
        while True:
            if budget.banned:
                raise IpBanned(
                    f"{url} is not asked: this IP is banned from the host until about "
                    f"{_ban_end((budget.banned_until or 0) - self.clock())}",
                    url=url,
                )
            attempt += 1
            try:
                if counted is None:
                    return await self._once(budget, full, setting, weight, headers)
                entry = await counted.acquire(1)
                self.bucket_requests[counted.host] = self.bucket_requests.get(counted.host, 0) + 1
                try:
                    return await self._once(budget, full, setting, weight, headers)
                finally:
                    counted.settle(entry)
            except RateLimited as error:
                waits += 1
                budget.pause(error.retry_after if error.retry_after is not None else 1.0)
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise
            except IpBanned as error:
                budget.ban(error.retry_after)
                raise IpBanned(
                    f"{url} answered 418: Binance banned this IP from the host until about "
                    f"{_ban_end(error.retry_after)}; nothing more is sent to it in this run",
                    url=url,
                    retry_after=error.retry_after,
                ) from None
            except Exception as error:
                if not (is_transient(error) and self.retry.should_retry(attempt, error)):
                    raise
                await self.sleep(self.retry.delay(attempt, error))

    async def _once(
        self,
        budget: WeightBudget,
        url: str,
        setting: str,
        weight: int,
        headers: Mapping[str, str] | None,
    ) -> Any:
        entry = await budget.acquire(weight)
        if budget.banned:
            raise IpBanned(f"{url} is not asked: this IP is banned from the host", url=url)
        try:
            async with self._slots:
                self.requests += 1
                self.weight += weight
                with translate_errors(url, setting_name=setting):
                    async with self.session.get(as_url(url), headers=headers) as response:
                        used = response.headers.get(WEIGHT_HEADER)
                        budget.observe(int(used) if used and used.isdigit() else None)
                        body = await read_body(response, url, limit=MAX_BODY)
                        status = response.status
                        answer_headers = dict(response.headers)
        finally:
            budget.settle(entry)
        if status == 400:
            _raise_for_code(body, url)
        error = error_for_status(status, url, answer_headers, setting_name=setting)
        if error is not None:
            raise error
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as failure:
            raise ServerError(f"the answer from {url} is not JSON ({failure})", url=url) from None


def _raise_for_code(body: bytes, url: str) -> None:
    """A 400's Binance error code, as one sentence."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = {}
    code = document.get("code") if isinstance(document, dict) else None
    msg = document.get("msg") if isinstance(document, dict) else None
    path = url.split("?", 1)[0]
    if code == INVALID_SYMBOL:
        symbol = _query_value(url, "symbol") or _query_value(url, "pair") or "the symbol"
        raise UsageError(f"{symbol} is not a symbol of {path} (Binance error -1121: Invalid symbol)")
    raise UsageError(f"{path} refused the request: {msg or 'HTTP 400'} (Binance error {code})")


def _query_value(url: str, name: str) -> str | None:
    _, _, query = url.partition("?")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return None
