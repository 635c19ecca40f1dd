"""A small async client for Binance's REST market-data API: `exchangeInfo` of spot, USDⓈ-M and COIN-M.

The session is the caller's (`http.make_session`); every request runs under the retry policy and circuit
breaker of `retry.py`, and aiohttp errors and HTTP statuses become `core.errors` in `http.py`, naming the URL and
the setting that chose the endpoint. COIN-M names the status field `contractStatus` where USDⓈ-M and spot say
`status` (reference §4.3); both land in `ExchangeSymbol.status`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from binance_lake.binance.http import as_url, host_of, raise_for_status, read_body, translate_errors
from binance_lake.binance.retry import CircuitBreaker, RetryPolicy, Sleep, retrying
from binance_lake.core import quirks
from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.settings import ENV_NAMES, Settings
from binance_lake.core.vocabulary import Market

EXCHANGE_INFO_MAX_BYTES = 64 * 1024 * 1024
"""Spot's exchangeInfo is a few MB; far more is not an exchangeInfo answer."""


@dataclass(frozen=True)
class Endpoint:
    setting: str  # the `Settings` field holding the base URL
    path: str


EXCHANGE_INFO: Mapping[Market, Endpoint] = {
    Market.UM: Endpoint("fapi_url", "/fapi/v1/exchangeInfo"),
    Market.CM: Endpoint("dapi_url", "/dapi/v1/exchangeInfo"),
    Market.SPOT: Endpoint("spot_api_url", "/api/v3/exchangeInfo"),
}


@dataclass(frozen=True)
class ExchangeSymbol:
    """One symbol of an exchangeInfo answer, in the catalog's terms."""

    market: Market
    symbol: str
    pair: str | None
    status: str | None
    contract_type: str | None
    onboard_date: dt.date | None
    delivery_date: dt.date | None  # None for perpetuals (their deliveryDate is 2100-12-25)
    base_asset: str | None
    quote_asset: str | None


def _text(entry: Mapping[str, object], name: str) -> str | None:
    value = entry.get(name)
    return value if isinstance(value, str) and value else None


def _date(entry: Mapping[str, object], name: str) -> dt.date | None:
    value = entry.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    if value == quirks.PERPETUAL_DELIVERY_MS:
        return None
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC).date()


def parse_exchange_info(body: bytes, market: Market, *, url: str) -> list[ExchangeSymbol]:
    """The symbols of one exchangeInfo JSON answer. Pure; a malformed answer is a `ServerError` naming `url`."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ServerError(f"the exchangeInfo answer from {url} is not JSON ({error})", url=url) from None
    entries = document.get("symbols") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ServerError(f"the exchangeInfo answer from {url} has no symbols list", url=url)
    symbols: list[ExchangeSymbol] = []
    for entry in entries:
        if not isinstance(entry, dict) or not _text(entry, "symbol"):
            raise ServerError(
                f"the exchangeInfo answer from {url} has a symbol entry without a name", url=url
            )
        symbols.append(
            ExchangeSymbol(
                market=market,
                symbol=str(entry["symbol"]),
                pair=_text(entry, "pair"),
                # COIN-M says `contractStatus` (reference §4.3).
                status=_text(entry, "contractStatus") or _text(entry, "status"),
                contract_type=_text(entry, "contractType"),
                onboard_date=_date(entry, "onboardDate"),
                delivery_date=_date(entry, "deliveryDate"),
                base_asset=_text(entry, "baseAsset"),
                quote_asset=_text(entry, "quoteAsset"),
            )
        )
    return symbols


class RestClient:
    """Talks to the REST APIs named by `settings` (fapi, dapi, spot). The session is not closed here."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.session = session
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.breaker = breaker
        self.sleep = sleep

    def url(self, market: Market) -> tuple[str, str]:
        """The exchangeInfo URL of a market and the environment variable that changes its base."""
        endpoint = EXCHANGE_INFO.get(market)
        if endpoint is None:
            raise UsageError(f"market {market.value} has no exchangeInfo endpoint")
        base = str(getattr(self.settings, endpoint.setting)).rstrip("/")
        return base + endpoint.path, ENV_NAMES[endpoint.setting]

    async def exchange_info(self, market: Market) -> list[ExchangeSymbol]:
        """Every symbol the exchange lists in `market` now, with status, contract type and dates."""
        url, setting = self.url(market)

        async def once() -> bytes:
            with translate_errors(url, setting_name=setting):
                async with self.session.get(as_url(url)) as response:
                    raise_for_status(response, url, setting_name=setting)
                    return await read_body(response, url, limit=EXCHANGE_INFO_MAX_BYTES)

        body = await retrying(once, self.retry, sleep=self.sleep, breaker=self.breaker, host=host_of(url))
        return parse_exchange_info(body, market, url=url)
