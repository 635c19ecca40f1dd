"""What a user chose, as the API takes it: names (one, a comma-separated string, several, or None for all),
symbol lists with `@set` references, and days.

Pure. Shared by the request builders of the stages (`engine.sync_request`, `catalog.request`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.core.symbols import TOP_PREFIX, split_list, top_count
from binance_lake.core.timerange import DateLike, parse_date

Names = str | Iterable[str] | None  # one name, a comma-separated string, or several names; None: all

NO_SYMBOLS = (
    "no symbols given; name at least one (--symbols BTCUSDT,ETHUSDT), or choose --all for every symbol"
)


def as_list(value: Names) -> list[str]:
    """The names of `value`: a string is split on commas (blanks dropped); None is no names."""
    if value is None:
        return []
    if isinstance(value, str):
        return split_list(value)
    return list(value)


def chosen_symbols(settings: Settings, symbols: Names, market: str | None = None) -> tuple[str, ...] | None:
    """None (every symbol) when `symbols` is None; otherwise the named symbols and `@set` members, never
    empty: an explicitly empty list (`[]`, `",,"`, `" "`, an empty set) is a mistake, not "the whole market".
    ccxt names are mapped for `market` (`core.symbols.from_ccxt`)."""
    if symbols is None:
        return None
    chosen = [part.strip() for part in as_list(symbols) if part.strip()]
    expanded = tuple(settings.expand_symbols(",".join(chosen), market)) if chosen else ()
    if not expanded:
        raise UsageError(NO_SYMBOLS)
    return expanded


def as_day(value: DateLike) -> dt.date:
    """The day of a date, a datetime or an ISO date string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_date(value)


def has_top(symbols: Names) -> bool:
    """Whether `symbols` names a dynamic `@top:N` set."""
    return symbols is not None and any(p.strip().startswith(TOP_PREFIX) for p in as_list(symbols))


def replace_top(symbols: Names, ranked: Callable[[int], Sequence[str]]) -> Names:
    """`symbols` with each `@top:N` replaced by `ranked(N)` (the N symbols of highest quote volume, which the
    Lake ranks); unchanged, and `ranked` never called, when there is none (an iterator comes back as a list:
    it is read here)."""
    if symbols is None:
        return None
    items = as_list(symbols)
    if not any(p.strip().startswith(TOP_PREFIX) for p in items):
        return symbols if isinstance(symbols, str) else items
    out: list[str] = []
    for part in items:
        part = part.strip()
        out.extend(ranked(top_count(part)) if part.startswith(TOP_PREFIX) else [part])
    return out
