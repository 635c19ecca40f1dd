"""Which symbols the synthetic universe holds and what each offers: the small, medium and large rosters,
and rosters described by a TOML file.

Pure data building: no I/O except reading the TOML file. The small roster holds every quirk of reference
§1.4 (delivery contracts, a delisted perpetual, a `...SETTLED` rename, multiplier names, a pair delisted and
relisted, short-lived option series); medium adds generated perpetuals; large is ~1000 UM perpetuals over
~2400 days for the catalog benchmark.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from binance_lake.core import quirks
from binance_lake.core.datasets import KLINE_FAMILY
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import is_symbol
from binance_lake.core.timerange import day_start
from binance_lake.core.vocabulary import Interval, Market, intervals_for, parse_interval, parse_market
from binance_lake.sim.universe import Offer, SimSymbol

IV = Interval
# Most symbols of the small universe offer these intervals; BTCUSDT spot and UM offer all of them.
DEFAULT_INTERVALS: tuple[Interval, ...] = (IV.M1, IV.M5, IV.H1, IV.D1)
# 1m bars (and 1s bars) are the expensive files; they start later than the rest to keep listings quick.
MINUTE_BARS_FROM = dt.date(2022, 1, 1)
SECOND_BARS_FROM = dt.date(2026, 11, 1)

SPOT_DATASETS = ("klines",)
TICK_DATASETS_SPOT = ("aggTrades", "trades")
TICK_DATASETS_FUTURES = ("aggTrades", "trades", "bookTicker")
PERP_DATASETS = (
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "fundingRate",
    "metrics",
    "bookDepth",
)
DELIVERY_DATASETS = ("klines", "markPriceKlines", "indexPriceKlines")


@dataclass
class RosterSpec:
    symbols: tuple[SimSymbol, ...] = ()
    offers: dict[tuple[Market, str], Offer] = field(default_factory=dict)
    # (market, symbol, dataset, interval) -> first and last day the sim offers files (narrower than life)
    windows: dict[tuple[Market, str, str, Interval | None], tuple[dt.date, dt.date | None]] = field(
        default_factory=dict
    )
    tick_rates: dict[tuple[Market, str], int] = field(default_factory=dict)
    planned_sizes: bool = False


def _ms(day: dt.date, hour: int = 0) -> int:
    return int(day_start(day).timestamp() * 1000) + hour * 3_600_000


def _sym(
    market: Market,
    symbol: str,
    listed: str,
    delisted: str | None = None,
    *,
    contract_type: str | None = None,
    onboard_hour: int = 0,
    gaps: tuple[tuple[dt.date, dt.date], ...] = (),
    settled: bool = False,
) -> SimSymbol:
    first = dt.date.fromisoformat(listed)
    last = dt.date.fromisoformat(delisted) if delisted else None
    pair, base, quote, margin = _assets(market, symbol)
    if market.is_futures and contract_type is None:
        contract_type = "PERPETUAL"
    delivery = quirks.PERPETUAL_DELIVERY_MS
    if contract_type not in (None, "PERPETUAL"):
        assert last is not None
        delivery = _ms(last, 8)  # quarterlies deliver at 08:00 UTC on their last day
    size = (100 if base == "BTC" else 10) if market is Market.CM else None
    return SimSymbol(
        market=market,
        symbol=symbol,
        pair=pair,
        base_asset=base,
        quote_asset=quote,
        margin_asset=margin,
        contract_type=contract_type,
        listed=first,
        delisted=last,
        onboard_ms=_ms(first, onboard_hour),
        delivery_ms=delivery,
        contract_size=size,
        gaps=gaps,
        settled=settled,
    )


_QUOTES = ("USDT", "USDC", "BUSD", "KRW", "USD", "BTC", "BNB")


def _assets(market: Market, symbol: str) -> tuple[str, str, str, str]:
    """(pair, base, quote, margin) from a symbol name such as BTCUSD_PERP or 1000SHIBUSDT."""
    name = symbol.removesuffix("SETTLED")
    pair = name.split("_")[0]
    quote = next((q for q in _QUOTES if pair.endswith(q) and len(pair) > len(q)), "USDT")
    base = pair[: -len(quote)]
    if market is Market.OPTION and "BVOL" in base:
        base = base.replace("BVOL", "")
    margin = base if market is Market.CM else quote
    return pair, base, quote, margin


def _offer_for(market: Market, symbol: SimSymbol, intervals: tuple[Interval, ...], ticks: bool) -> Offer:
    if market is Market.SPOT:
        names: tuple[str, ...] = SPOT_DATASETS + (TICK_DATASETS_SPOT if ticks else ())
    elif symbol.is_delivery:
        names = DELIVERY_DATASETS
    else:
        names = PERP_DATASETS + (TICK_DATASETS_FUTURES if ticks else ())
        if market is Market.CM:
            names = (*names, "liquidationSnapshot")
    allowed = intervals_for(market)
    return {n: (tuple(i for i in intervals if i in allowed) if n in KLINE_FAMILY else ()) for n in names}


def _add(
    spec: RosterSpec,
    symbol: SimSymbol,
    intervals: tuple[Interval, ...] = DEFAULT_INTERVALS,
    *,
    ticks: bool = False,
    offer: Offer | None = None,
) -> None:
    spec.symbols = (*spec.symbols, symbol)
    spec.offers[(symbol.market, symbol.symbol)] = (
        offer if offer is not None else _offer_for(symbol.market, symbol, intervals, ticks)
    )
    for dataset, ivs in spec.offers[(symbol.market, symbol.symbol)].items():
        for interval in ivs:
            if interval is IV.M1:
                spec.windows[(symbol.market, symbol.symbol, dataset, interval)] = (MINUTE_BARS_FROM, None)
            if interval is IV.S1:
                spec.windows[(symbol.market, symbol.symbol, dataset, interval)] = (SECOND_BARS_FROM, None)


def _window(
    spec: RosterSpec,
    market: Market,
    symbol: str,
    datasets: tuple[str, ...],
    first: str,
    last: str | None = None,
) -> None:
    end = dt.date.fromisoformat(last) if last else None
    for dataset in datasets:
        spec.windows[(market, symbol, dataset, None)] = (dt.date.fromisoformat(first), end)


def small_roster() -> RosterSpec:
    spec = RosterSpec()
    S, U, C, OPT = Market.SPOT, Market.UM, Market.CM, Market.OPTION
    every_spot = intervals_for(S)
    every_futures = intervals_for(U)
    # spot
    _add(spec, _sym(S, "BTCUSDT", "2017-08-17", onboard_hour=4), every_spot, ticks=True)
    _add(spec, _sym(S, "ETHUSDT", "2017-08-17", onboard_hour=4))
    _add(spec, _sym(S, "BNBUSDT", "2017-11-06"))
    _add(spec, _sym(S, "DOGEUSDT", "2019-07-05"))
    _add(spec, _sym(S, "SOLUSDT", "2020-08-11"))
    # BTCUSDC was delisted and relisted: no files 2022-09 .. 2023-02 (issue #415).
    gap = ((dt.date(2022, 9, 1), dt.date(2023, 2, 28)),)
    _add(spec, _sym(S, "BTCUSDC", "2018-12-15", gaps=gap), (IV.H1, IV.D1))
    # ADABKRW: home of the un-padded monthly key ADABKRW-1d-2020-8.zip (issue #469).
    _add(spec, _sym(S, "ADABKRW", "2020-08-05", "2021-03-31"), (IV.D1,))
    _window(spec, S, "BTCUSDT", TICK_DATASETS_SPOT, "2024-10-01")
    # USDⓈ-M
    _add(spec, _sym(U, "BTCUSDT", "2019-09-08", onboard_hour=8), every_futures, ticks=True)
    _add(spec, _sym(U, "ETHUSDT", "2019-11-27", onboard_hour=8), ticks=True)
    _add(spec, _sym(U, "BNBUSDT", "2020-02-10"))
    _add(spec, _sym(U, "SOLUSDT", "2020-09-14"))
    _add(spec, _sym(U, "1000SHIBUSDT", "2021-05-10"))
    _add(spec, _sym(U, "1000XECUSDT", "2021-12-15"))
    _add(spec, _sym(U, "1000000BOBUSDT", "2025-02-10"))
    _add(spec, _sym(U, "XEMUSDT", "2020-12-17", "2023-10-19"))  # a delisted perpetual
    # CVCUSDT traded until 2023-05-14; its settlement days live under CVCUSDTSETTLED (reference §1.4).
    _add(spec, _sym(U, "CVCUSDT", "2020-10-13", "2023-05-14"))
    _add(spec, _sym(U, "CVCUSDTSETTLED", "2023-05-15", "2023-05-17", settled=True), (IV.H1, IV.D1))
    for name, listed, delivered, kind in (
        ("BTCUSDT_230929", "2023-06-30", "2023-09-29", "CURRENT_QUARTER"),
        ("BTCUSDT_250328", "2024-12-27", "2025-03-28", "CURRENT_QUARTER"),
        ("BTCUSDT_261225", "2026-06-26", "2026-12-25", "CURRENT_QUARTER"),
        ("BTCUSDT_270326", "2026-09-25", "2027-03-26", "NEXT_QUARTER"),
        ("ETHUSDT_261225", "2026-06-26", "2026-12-25", "CURRENT_QUARTER"),
    ):
        _add(spec, _sym(U, name, listed, delivered, contract_type=kind), (IV.H1, IV.D1))
    _window(spec, U, "BTCUSDT", ("aggTrades", "trades"), "2022-06-01")
    _window(spec, U, "BTCUSDT", ("bookTicker",), "2023-06-01")
    _window(spec, U, "ETHUSDT", ("aggTrades", "trades"), "2022-06-01", "2022-09-30")
    _window(spec, U, "ETHUSDT", ("bookTicker",), "2024-03-01")
    # COIN-M
    _add(spec, _sym(C, "BTCUSD_PERP", "2020-08-10"), ticks=True)
    _add(spec, _sym(C, "ETHUSD_PERP", "2020-08-14"))
    _add(spec, _sym(C, "ADAUSD_PERP", "2020-10-16"))
    for name, listed, delivered, kind in (
        ("BTCUSD_250328", "2024-09-27", "2025-03-28", "CURRENT_QUARTER"),
        ("BTCUSD_261225", "2026-06-26", "2026-12-25", "CURRENT_QUARTER"),
        ("BTCUSD_270326", "2026-09-25", "2027-03-26", "NEXT_QUARTER"),
        ("ETHUSD_261225", "2026-06-26", "2026-12-25", "CURRENT_QUARTER"),
    ):
        _add(spec, _sym(C, name, listed, delivered, contract_type=kind), (IV.H1, IV.D1))
    _window(spec, C, "BTCUSD_PERP", ("aggTrades", "trades"), "2023-09-01")
    _window(spec, C, "BTCUSD_PERP", ("bookTicker",), "2024-06-01", "2024-10-14")
    # options: short-lived series (reference §1.2)
    for name in ("BTCBVOLUSDT", "ETHBVOLUSDT"):
        _add(spec, _sym(OPT, name, "2023-06-20", "2023-09-30"), offer={"BVOLIndex": ()})
    for name in ("BTCUSDT", "ETHUSDT"):
        _add(spec, _sym(OPT, name, "2023-05-15", "2023-10-31"), offer={"EOHSummary": ()})
    spec.tick_rates[(U, "BTCUSDT")] = 3000
    return spec


_SYLLABLES = ("BA", "KO", "ZEN", "LU", "MI", "RA", "TO", "VEX", "QI", "NO", "SA", "PY", "DU", "XI", "GO")


def _generated_name(index: int) -> str:
    first = _SYLLABLES[index % len(_SYLLABLES)]
    second = _SYLLABLES[(index // len(_SYLLABLES)) % len(_SYLLABLES)]
    third = _SYLLABLES[(index // len(_SYLLABLES) ** 2) % len(_SYLLABLES)]
    return f"{first}{second}{third}USDT"


def medium_roster() -> RosterSpec:
    spec = small_roster()
    start = dt.date(2020, 1, 1)
    for index in range(170):
        listed = start + dt.timedelta(days=(index * 37) % 2200)
        delisted = listed + dt.timedelta(days=400 + index * 11 % 300) if index % 9 == 0 else None
        sym = _sym(
            Market.UM, _generated_name(index), listed.isoformat(), delisted.isoformat() if delisted else None
        )
        _add(spec, sym, (IV.H1, IV.D1), offer={"klines": (IV.H1, IV.D1), "fundingRate": (), "metrics": ()})
    return spec


def large_roster() -> RosterSpec:
    """~1050 UM perpetuals over ~2400 days: more than 1000 symbol prefixes in every dataset directory."""
    spec = RosterSpec(planned_sizes=True)
    start = dt.date(2019, 12, 1)
    for index in range(1050):
        listed = start + dt.timedelta(days=index % 90)
        sym = _sym(Market.UM, _generated_name(index), listed.isoformat())
        _add(spec, sym, offer={"klines": (IV.H1, IV.D1), "fundingRate": (), "metrics": ()})
    return spec


def build_roster(size: str) -> RosterSpec:
    return {"small": small_roster, "medium": medium_roster, "large": large_roster}[size]()


def _text(entry: Mapping[str, object], name: str, path: Path, default: str | None = None) -> str | None:
    value = entry.get(name, default)
    if value is not None and not isinstance(value, str | dt.date):
        raise UsageError(f"{name} of a [[symbols]] entry in {path} must be a string")
    return None if value is None else str(value)


def load_toml(path: Path) -> RosterSpec:
    """Read a roster: `planned_sizes = false` and `[[symbols]]` tables with market, symbol, listed,
    optional delisted, contract_type, intervals, datasets and tick_rate."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"cannot read universe file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"universe file {path} is not valid TOML: {error}") from None
    spec = RosterSpec(planned_sizes=bool(data.get("planned_sizes", False)))
    entries = data.get("symbols")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"universe file {path} needs at least one [[symbols]] table")
    for entry in entries:
        market = parse_market(_text(entry, "market", path, "um") or "um")
        name = (_text(entry, "symbol", path) or "").upper()
        if not is_symbol(name):
            raise UsageError(f"invalid symbol {name!r} in {path}")
        listed = _text(entry, "listed", path, "2024-01-01") or "2024-01-01"
        try:
            sym = _sym(
                market,
                name,
                listed,
                _text(entry, "delisted", path),
                contract_type=_text(entry, "contract_type", path),
            )
        except (ValueError, AssertionError):
            raise UsageError(f"bad dates for {name} in {path} (delivery contracts need delisted)") from None
        intervals = tuple(parse_interval(str(i)) for i in entry.get("intervals", ["1h", "1d"]))
        offer = dict(_offer_for(market, sym, intervals, ticks=bool(entry.get("tick_rate"))))
        if "datasets" in entry:
            offer = {d: offer.get(d, intervals if d in KLINE_FAMILY else ()) for d in entry["datasets"]}
        _add(spec, sym, intervals, offer=offer)
        if entry.get("tick_rate"):
            spec.tick_rates[(market, name)] = int(entry["tick_rate"])
    return spec
