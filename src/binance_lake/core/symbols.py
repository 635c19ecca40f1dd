"""Symbol names: validation and the comma-separated lists users type.

Pure. Symbols are upper-case as Binance writes them (`BTCUSDT`, `BTCUSD_PERP`, `BTCUSDT_230929`,
`CVCUSDTSETTLED`, `1000000BOBUSDT`); input may be given in any case.
"""

from __future__ import annotations

import re

from binance_lake.core.errors import UsageError

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9_]+$")


def is_symbol(text: str) -> bool:
    return bool(SYMBOL_PATTERN.match(text))


def normalize_symbol(text: str) -> str:
    """Upper-case and validate one symbol; a bad one is a usage error naming it."""
    symbol = text.strip().upper()
    if not is_symbol(symbol):
        raise UsageError(f"invalid symbol {text!r}: symbols are letters, digits and '_' (e.g. BTCUSDT)")
    return symbol


def split_list(text: str) -> list[str]:
    """Split a comma-separated command-line list, dropping blanks: 'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_symbol_list(text: str) -> list[str]:
    """'btcusdt,ETHUSDT' -> ['BTCUSDT', 'ETHUSDT'], order kept, duplicates removed."""
    return list(dict.fromkeys(normalize_symbol(s) for s in split_list(text)))


_CONTRACT_SUFFIX = re.compile(r"_(PERP|\d{6})$")


def pair_of(symbol: str) -> str:
    """The pair a contract trades: `BTCUSD_PERP` -> `BTCUSD`, `BTCUSDT_230929` -> `BTCUSDT`, `BTCUSDT` -> itself.

    indexPriceKlines directories are named by pair, not by contract (reference §1.3).
    """
    return _CONTRACT_SUFFIX.sub("", symbol)
