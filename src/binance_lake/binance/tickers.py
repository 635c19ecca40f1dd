"""REST 24-hour tickers (`GET /fapi/v1/ticker/24hr`, `/dapi/v1/ticker/24hr`, `/api/v3/ticker/24hr`) as each
symbol's traded quote volume over the last day: what `--symbols @top:N` ranks by when the lake holds no klines.

fapi and spot answer `quoteVolume`; dapi answers `baseVolume` (and `volume` in contracts), so a COIN-M
symbol's quote (USD) volume is `baseVolume × weightedAvgPrice` (reference §4.2). One request per market
(weight 40 on fapi and dapi, 80 on spot), under the REST client's retry policy and circuit breaker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from binance_lake.binance.http import as_url, host_of, raise_for_status, read_body, translate_errors
from binance_lake.binance.rest_client import RestClient
from binance_lake.binance.retry import retrying
from binance_lake.core import quirks
from binance_lake.core.errors import ServerError, UsageError
from binance_lake.core.settings import ENV_NAMES
from binance_lake.core.vocabulary import Market

TICKER_PATHS = {
    Market.UM: ("fapi_url", "/fapi/v1/ticker/24hr"),
    Market.CM: ("dapi_url", "/dapi/v1/ticker/24hr"),
    Market.SPOT: ("spot_api_url", "/api/v3/ticker/24hr"),
}
TICKERS_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Ticker:
    symbol: str
    quote_volume: float
    """Traded volume over the last 24 h in the quote asset (USD for COIN-M)."""


def _number(entry: dict[str, object], name: str, url: str) -> float:
    try:
        return float(str(entry[name]))
    except (KeyError, ValueError):
        raise ServerError(f"a ticker in the answer from {url} has no number {name}", url=url) from None


def parse_tickers(body: bytes, market: Market, *, url: str) -> list[Ticker]:
    """The tickers of one `ticker/24hr` JSON answer (all symbols). Pure; malformed is a `ServerError`."""
    try:
        entries = json.loads(body)
    except ValueError as error:
        raise ServerError(f"the ticker answer from {url} is not JSON ({error})", url=url) from None
    if not isinstance(entries, list):
        raise ServerError(f"the ticker answer from {url} is not a list of tickers", url=url)
    tickers = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            raise ServerError(f"the ticker answer from {url} has an entry without a symbol", url=url)
        if market is Market.CM:
            volume = _number(entry, quirks.CM_TICKER_VOLUME_FIELD, url) * _number(
                entry, "weightedAvgPrice", url
            )
        else:
            volume = _number(entry, "quoteVolume", url)
        tickers.append(Ticker(entry["symbol"], volume))
    return tickers


async def fetch_tickers(rest: RestClient, market: Market) -> list[Ticker]:
    """Every symbol's 24 h ticker in `market` now (one request)."""
    if market not in TICKER_PATHS:
        raise UsageError(f"market {market.value} has no 24 h tickers; choose spot, um or cm")
    setting, path = TICKER_PATHS[market]
    url = str(getattr(rest.settings, setting)).rstrip("/") + path
    env = ENV_NAMES[setting]

    async def once() -> bytes:
        with translate_errors(url, setting_name=env):
            async with rest.session.get(as_url(url)) as response:
                raise_for_status(response, url, setting_name=env)
                return await read_body(response, url, limit=TICKERS_MAX_BYTES)

    body = await retrying(once, rest.retry, sleep=rest.sleep, breaker=rest.breaker, host=host_of(url))
    return parse_tickers(body, market, url=url)
