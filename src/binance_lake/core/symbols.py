"""Symbol names: validation, the comma-separated lists users type, ccxt's names, symbol files and `@top:N`.

Pure (it reads only the symbol files a user names). Symbols are upper-case as Binance writes them
(`BTCUSDT`, `BTCUSD_PERP`, `BTCUSDT_230929`, `CVCUSDTSETTLED`, `1000000BOBUSDT`); input may be given in any case.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

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


# --- ccxt's unified names (seed 003 writes `SOL/USDT`) ------------------------------------------------------
# ccxt names a market BASE/QUOTE, a swap BASE/QUOTE:SETTLE and a future BASE/QUOTE:SETTLE-YYMMDD
# (https://docs.ccxt.com/#/README?id=contract-naming-conventions). Binance's linear contracts settle in the
# quote (um: BTC/USDT:USDT is BTCUSDT), its inverse ones in the base (cm: BTC/USD:BTC is BTCUSD_PERP).
_CCXT = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+)(?::([A-Z0-9]+)(?:-(\d{6}))?)?$")


def is_ccxt(text: str) -> bool:
    return "/" in text


def from_ccxt(text: str, market: str | None = None) -> tuple[str, str]:
    """(Binance symbol, market) of a ccxt name: `BTC/USDT:USDT` -> (`BTCUSDT`, `um`), `BTC/USD:BTC` ->
    (`BTCUSD_PERP`, `cm`), `BTC/USDT` -> (`BTCUSDT`, `spot`, or `um` when `market` is um). A name that belongs
    to another market than `market` is a `UsageError` that says the mapping."""
    name = text.strip().upper()
    match = _CCXT.match(name)
    if match is None:
        raise UsageError(
            f"invalid symbol {text!r}: a ccxt name is BASE/QUOTE, BASE/QUOTE:SETTLE or BASE/QUOTE:SETTLE-YYMMDD "
            "(e.g. BTC/USDT, BTC/USDT:USDT, BTC/USD:BTC)"
        )
    base, quote, settle, expiry = match.groups()
    if settle is None:
        symbol, implied = base + quote, "um" if market == "um" else "spot"
    elif settle == quote:
        symbol, implied = base + quote + (f"_{expiry}" if expiry else ""), "um"
    elif settle == base and quote == "USD":
        symbol, implied = f"{base}USD_{expiry or 'PERP'}", "cm"
    else:
        raise UsageError(
            f"{name} settles in {settle}, neither its quote {quote} (um) nor its base {base} (cm): "
            "Binance lists no such contract"
        )
    if market is not None and market != implied:
        raise UsageError(
            f"{name} is {symbol} on {implied}, not a {market} symbol; use --market {implied}"
            + (f" or name the {market} symbol itself" if market != "option" else "")
        )
    return symbol, implied


@contextlib.contextmanager
def ccxt_named(symbols: str | Iterable[str] | None, market: str | None) -> Iterator[None]:
    """Say the ccxt mapping in a `UsageError` that names a mapped symbol: "not in the um archive: FOOUSDT"
    becomes "… (FOO/USDT:USDT is FOOUSDT on um)", so the user sees which of their names it was."""
    parts = split_list(symbols) if isinstance(symbols, str) else [p.strip() for p in symbols or ()]
    aliases: dict[str, tuple[str, str]] = {}
    for part in parts:
        if is_ccxt(part):
            with contextlib.suppress(UsageError):  # a bad name is refused with its own sentence later
                aliases[part.upper()] = from_ccxt(part, market)
    try:
        yield
    except UsageError as error:
        text = str(error)
        # A sentence that already names the ccxt name (a mapping refused for the market) says it itself.
        said = [
            f"{n} is {symbol} on {on}"
            for n, (symbol, on) in aliases.items()
            if symbol in text and n not in text
        ]
        if not said:
            raise
        raise UsageError(f"{error} ({'; '.join(said)})") from None


# --- symbol files (seed 001's shortlisting: delete lines from spot_synchronal.csv) ---------------------------
FILE_PREFIX = "@file:"
# A first row naming its column with one of these is a header, although each also spells a valid symbol.
_HEADER_WORDS = frozenset({"symbol", "symbols", "ticker", "pair", "name", "instrument", "market", "asset"})


def read_symbol_file(path: Path) -> list[str]:
    """The symbols a CSV or text file names, in order: its `symbol` column when the header names one (seed
    001's reports start with `market`), else its first column; a header row (a first cell that is no symbol,
    or a column word such as `ticker`), blank lines and `#` comments are skipped. A file that cannot be read,
    or names no symbol, is a `UsageError`."""
    try:
        text = path.expanduser().read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"cannot read symbol file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"symbol file {path} is not UTF-8 text") from None
    rows = [
        r for r in csv.reader(io.StringIO(text)) if r and r[0].strip() and not r[0].lstrip().startswith("#")
    ]
    column = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        if "symbol" in header:
            column, rows = header.index("symbol"), rows[1:]
        elif header[0] in _HEADER_WORDS or not is_symbol(rows[0][0].strip().upper()):
            rows = rows[1:]
    symbols: list[str] = []
    for number, row in enumerate(rows, start=1):
        cell = row[column].strip() if column < len(row) else ""
        if not cell:
            continue
        if not is_symbol(cell.upper()):
            raise UsageError(f"symbol file {path}, row {number}: {cell!r} is not a symbol (e.g. BTCUSDT)")
        symbols.append(cell.upper())
    if not symbols:
        raise UsageError(f"symbol file {path} names no symbols")
    return list(dict.fromkeys(symbols))


# --- dynamic sets: `@top:N`, ranked by the Lake (facade/symbols.py), not here --------------------------------
TOP_PREFIX = "@top:"


def top_count(part: str) -> int:
    """N of an `@top:N` part; anything but a positive whole number is a `UsageError`."""
    text = part[len(TOP_PREFIX) :].strip()
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{part!r}: @top:N takes a positive number of symbols, e.g. @top:35")
    return int(text)


def expand_symbol_list(
    text: str, sets: Mapping[str, tuple[str, ...]], *, market: str | None = None, config_name: str = ""
) -> list[str]:
    """A `--symbols` value as Binance names: symbols in any case, ccxt names (mapped for `market`), `@file:PATH`
    and `@name` sets of `sets`, comma-separated; order kept, duplicates dropped."""
    symbols: list[str] = []
    for part in split_list(text):
        if part.startswith(FILE_PREFIX):
            symbols.extend(read_symbol_file(Path(part[len(FILE_PREFIX) :])))
        elif part.startswith(TOP_PREFIX):
            top_count(part)
            raise UsageError(
                f"{part} is ranked by volume by `sync` and `load` (Lake.sync, Lake.load); "
                "here name the symbols, an @set or an @file:PATH"
            )
        elif part.startswith("@"):
            name = part[1:]
            if name not in sets:
                known = ", ".join(sorted(sets)) or "none defined"
                where = f"; define it in {config_name}" if config_name else ""
                raise UsageError(f"unknown symbol set @{name} (known: {known}{where})")
            symbols.extend(sets[name])
        elif is_ccxt(part):
            symbols.append(from_ccxt(part, market)[0])
        else:
            symbols.append(normalize_symbol(part))
    return list(dict.fromkeys(symbols))
