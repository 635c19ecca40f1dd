"""`Lake.top_symbols` and the `--symbols @top:N` set: the N symbols of a market with the highest traded quote
volume over the trailing 30 days (seed 000's "priority symbols").

From the lake when it holds klines of the market in those 30 days (`load.top`, point-in-time: the window ends
on the request's end day); else from the exchange's REST 24 h tickers (`binance.tickers`), which rank only the
last day up to now, so a past end day without the lake's klines is refused in one sentence rather than
ranked with today's volumes. Delivery contracts are never in the list.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable

from binance_lake.binance.clients import Clients
from binance_lake.binance.tickers import Ticker, fetch_tickers
from binance_lake.core.choices import Names, as_day, replace_top
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import parse_market
from binance_lake.facade.base import LakeBase
from binance_lake.facade.loop import run_online
from binance_lake.load.top import WINDOW_DAYS, lake_ranking

_DELIVERY = re.compile(r"_\d{6}$")


class SymbolMethods(LakeBase):
    """`Lake.top_symbols`, and `@top:N` for the methods that take symbols."""

    def top_symbols(self, n: int, *, market: str | None = None, end: DateLike | None = None) -> list[str]:
        """The `n` symbols of `market` (default: the settings') with the highest quote volume over the 30 days
        ending on `end` (default today, UTC): from the lake's klines when it holds any in that window, else
        from REST 24 h tickers (today only)."""
        if n < 1:
            raise UsageError(f"@top:N takes a positive number of symbols, not {n}")
        chosen = parse_market(market or self.settings.default_market)
        today = dt.datetime.now(dt.UTC).date()
        day = min(as_day(end), today) if end is not None else today
        ranked = lake_ranking(self.root, chosen, day)
        if ranked is None:
            if day < today:
                first = day - dt.timedelta(days=WINDOW_DAYS - 1)
                raise UsageError(
                    f"@top:{n} for {day} needs the lake's {chosen.value} klines of the {WINDOW_DAYS} days up to "
                    f"it (REST tickers rank only today): binance-lake sync --market {chosen.value} "
                    f"--datasets klines --intervals 1d --all --start {first} --end {day}"
                )

            def work(clients: Clients) -> Awaitable[list[Ticker]]:
                return fetch_tickers(clients.rest, chosen)

            tickers = run_online(self.settings, work, concurrency=1)
            ranked = sorted(((t.symbol, t.quote_volume) for t in tickers), key=lambda r: (-r[1], r[0]))
        return [symbol for symbol, _ in ranked if not _DELIVERY.search(symbol)][:n]

    def _with_top(self, symbols: Names, market: str | None, end: DateLike | None) -> Names:
        """`symbols` with each `@top:N` ranked for `market` and `end` (`core.choices.replace_top`)."""
        return replace_top(symbols, lambda n: self.top_symbols(n, market=market, end=end))
