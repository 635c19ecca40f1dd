"""The dataset registry: one data-only entry per archive dataset (reference §1.2, §1.3, §2.2).

Pure data plus the Arrow schema derived from it. Parsers, the simulator, the planner and the loader read
this registry; adding a dataset means adding one entry here (and golden fixtures for its quirks).

Lake column names are Binance's futures CSV header names, used for every market whether the file has a
header or not; the klines `ignore` column is dropped. Time columns become `timestamp[us, tz=UTC]`, which
holds both the millisecond and the microsecond eras without loss.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import is_symbol
from binance_lake.core.vocabulary import Cadence, Interval, Market, intervals_for


class ColumnKind(StrEnum):
    """How a CSV field is read and what Arrow type it becomes in the lake."""

    EPOCH_TIME = "epoch_time"  # integer epoch in ms or µs (decided per file) -> timestamp[us, UTC]
    TEXT_TIME = "text_time"  # 'YYYY-MM-DD HH:MM:SS' in UTC -> timestamp[us, UTC]
    TEXT_DATE = "text_date"  # 'YYYY-MM-DD' -> timestamp[us, UTC] at midnight
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"  # 'true'/'false' (futures) or 'True'/'False' (spot)
    TEXT = "text"
    DROPPED = "dropped"  # present in the CSV, not kept in the lake (`ignore`, a repeated symbol)


TIMESTAMP = pa.timestamp("us", tz="UTC")

_ARROW_TYPES: Mapping[ColumnKind, pa.DataType] = MappingProxyType(
    {
        ColumnKind.EPOCH_TIME: TIMESTAMP,
        ColumnKind.TEXT_TIME: TIMESTAMP,
        ColumnKind.TEXT_DATE: TIMESTAMP,
        ColumnKind.FLOAT: pa.float64(),
        ColumnKind.INT: pa.int64(),
        ColumnKind.BOOL: pa.bool_(),
        ColumnKind.TEXT: pa.string(),
    }
)

TIME_KINDS = frozenset({ColumnKind.EPOCH_TIME, ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE})


@dataclass(frozen=True)
class Column:
    """One CSV field: `name` is its lake name (the futures header name where one exists)."""

    name: str
    kind: ColumnKind

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]

    @property
    def is_time(self) -> bool:
        return self.kind in TIME_KINDS


@dataclass(frozen=True)
class CsvLayout:
    """The CSV fields of one dataset in one market, in file order.

    `header` is the exact header line the market's files carry when they have one; spot files never do.
    """

    columns: tuple[Column, ...]
    header: str | None

    @property
    def kept(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind is not ColumnKind.DROPPED)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


class Granularity(StrEnum):
    """How much time one lake partition file holds (DESIGN.md, storage)."""

    MONTH = "month"  # bar-like data: tables/.../<YYYY-MM>.parquet
    DAY = "day"  # tick-like data: tables/.../<YYYY-MM-DD>.parquet


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the code needs to know about one archive dataset. Data only."""

    name: str
    description: str
    layouts: Mapping[Market, CsvLayout]
    cadences: frozenset[Cadence]
    has_interval: bool
    time_column: str
    unique_key: tuple[str, ...]  # identifies a row for de-duplication; () means the whole row
    granularity: Granularity
    # The directory (and file-name prefix) is a pair, not a contract symbol: indexPriceKlines.
    directory_is_pair: bool = False
    # First day each market's files exist upstream, where a dataset is younger than its market.
    first_day: Mapping[Market, dt.date] = field(default_factory=dict)
    # Last day each market's files exist, for datasets Binance stopped publishing.
    last_day: Mapping[Market, dt.date] = field(default_factory=dict)
    # False for datasets the archive never publishes (filled from a WebSocket stream or REST only): the catalog
    # does not list them and the simulator renders no files for them.
    in_archive: bool = True
    # REST-only statistics (`/futures/data/*`, reference §4.2, §4.4): the `period` the lake collects them at.
    # REST keeps the latest 30 days only, so `update` collects them every run and the lake accumulates the rest.
    rest_period: str | None = None

    @property
    def markets(self) -> frozenset[Market]:
        return frozenset(self.layouts)

    def layout(self, market: Market) -> CsvLayout:
        try:
            return self.layouts[market]
        except KeyError:
            raise UsageError(
                f"dataset {self.name} does not exist in market {market.value}; it exists in: "
                f"{', '.join(sorted(m.value for m in self.layouts))}"
            ) from None

    def schema(self, market: Market) -> pa.Schema:
        """The Arrow schema of this dataset's lake table in `market` (the `symbol` lives in the path)."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.layout(market).kept])

    def time_columns(self, market: Market) -> tuple[str, ...]:
        return tuple(c.name for c in self.layout(market).kept if c.is_time)

    def epoch_unit(self, market: Market, day: dt.date) -> str:
        """The unit Binance uses for this market's epoch columns on `day`: 'us' for spot from 2025."""
        if market is Market.SPOT and day >= quirks.SPOT_MICROSECONDS_FROM:
            return "us"
        return "ms"


def _layout(header: str | None, *columns: tuple[str, ColumnKind]) -> CsvLayout:
    return CsvLayout(columns=tuple(Column(n, k) for n, k in columns), header=header)


def _futures_header(*columns: tuple[str, ColumnKind]) -> CsvLayout:
    return _layout(",".join(n for n, _ in columns), *columns)


K = ColumnKind

_KLINE_COLUMNS: tuple[tuple[str, ColumnKind], ...] = (
    ("open_time", K.EPOCH_TIME),
    ("open", K.FLOAT),
    ("high", K.FLOAT),
    ("low", K.FLOAT),
    ("close", K.FLOAT),
    ("volume", K.FLOAT),
    ("close_time", K.EPOCH_TIME),
    # CM files say `quote_volume` but hold base-asset volume (issue #267); we keep Binance's header name.
    ("quote_volume", K.FLOAT),
    ("count", K.INT),
    ("taker_buy_volume", K.FLOAT),
    ("taker_buy_quote_volume", K.FLOAT),
    ("ignore", K.DROPPED),
)

_FUTURES = (Market.UM, Market.CM)
_NO_CADENCE: frozenset[Cadence] = frozenset()
_BOTH_CADENCES = frozenset({Cadence.DAILY, Cadence.MONTHLY})
_DAILY = frozenset({Cadence.DAILY})
_MONTHLY = frozenset({Cadence.MONTHLY})


def _kline_family(
    name: str, description: str, markets: tuple[Market, ...], *, directory_is_pair: bool = False
) -> DatasetSpec:
    spot = _layout(None, *_KLINE_COLUMNS)
    futures = _futures_header(*_KLINE_COLUMNS)
    layouts = {m: (spot if m is Market.SPOT else futures) for m in markets}
    return DatasetSpec(
        name=name,
        description=description,
        layouts=MappingProxyType(layouts),
        cadences=_BOTH_CADENCES,
        has_interval=True,
        time_column="open_time",
        unique_key=("open_time",),
        granularity=Granularity.MONTH,
        directory_is_pair=directory_is_pair,
    )


_AGG_FUTURES = (
    ("agg_trade_id", K.INT),
    ("price", K.FLOAT),
    ("quantity", K.FLOAT),
    ("first_trade_id", K.INT),
    ("last_trade_id", K.INT),
    ("transact_time", K.EPOCH_TIME),
    ("is_buyer_maker", K.BOOL),
)
# Spot aggTrades have an eighth field, "Was the trade the best price match" (README).
_AGG_SPOT = (*_AGG_FUTURES, ("is_best_match", K.BOOL))

_TRADES_UM = (
    ("id", K.INT),
    ("price", K.FLOAT),
    ("qty", K.FLOAT),
    ("quote_qty", K.FLOAT),
    ("time", K.EPOCH_TIME),
    ("is_buyer_maker", K.BOOL),
)
# CM trades: qty in contracts, `base_qty` in coin instead of the quote quantity.
_TRADES_CM = (
    ("id", K.INT),
    ("price", K.FLOAT),
    ("qty", K.FLOAT),
    ("base_qty", K.FLOAT),
    ("time", K.EPOCH_TIME),
    ("is_buyer_maker", K.BOOL),
)
_TRADES_SPOT = (*_TRADES_UM, ("is_best_match", K.BOOL))

_METRICS = (
    ("create_time", K.TEXT_TIME),
    ("symbol", K.DROPPED),  # equals the partition's symbol
    ("sum_open_interest", K.FLOAT),
    ("sum_open_interest_value", K.FLOAT),
    ("count_toptrader_long_short_ratio", K.FLOAT),
    ("sum_toptrader_long_short_ratio", K.FLOAT),
    ("count_long_short_ratio", K.FLOAT),
    ("sum_taker_long_short_vol_ratio", K.FLOAT),
)

_BOOK_DEPTH = (
    ("timestamp", K.TEXT_TIME),
    ("percentage", K.FLOAT),
    ("depth", K.FLOAT),
    ("notional", K.FLOAT),
)

_BOOK_TICKER = (
    ("update_id", K.INT),
    ("best_bid_price", K.FLOAT),
    ("best_bid_qty", K.FLOAT),
    ("best_ask_price", K.FLOAT),
    ("best_ask_qty", K.FLOAT),
    ("transaction_time", K.EPOCH_TIME),
    ("event_time", K.EPOCH_TIME),
)

_LIQUIDATION = (
    ("time", K.EPOCH_TIME),
    ("side", K.TEXT),
    ("order_type", K.TEXT),
    ("time_in_force", K.TEXT),
    ("original_quantity", K.FLOAT),
    ("price", K.FLOAT),
    ("average_price", K.FLOAT),
    ("order_status", K.TEXT),
    ("last_fill_quantity", K.FLOAT),
    ("accumulated_fill_quantity", K.FLOAT),
)

# Stream-only datasets (issue 15): the `markPriceUpdate` and `forceOrder` payloads of reference §5, one column
# per field. `funding_rate`/`next_funding_time` are NULL for delivery contracts (CM sends "" and 0); `pair`
# and `st` are NULL where the payload lacks them (UM before ~2026-10).
_MARK_PRICE = (
    ("event_time", K.EPOCH_TIME),  # E
    ("mark_price", K.FLOAT),  # p
    ("index_price", K.FLOAT),  # i
    ("estimated_settle_price", K.FLOAT),  # P
    ("funding_rate", K.FLOAT),  # r
    ("next_funding_time", K.EPOCH_TIME),  # T
)

_LIQUIDATIONS = (
    ("time", K.EPOCH_TIME),  # o.T, the order's trade time
    ("event_time", K.EPOCH_TIME),  # E
    ("side", K.TEXT),  # o.S
    ("order_type", K.TEXT),  # o.o
    ("time_in_force", K.TEXT),  # o.f
    ("original_quantity", K.FLOAT),  # o.q
    ("price", K.FLOAT),  # o.p
    ("average_price", K.FLOAT),  # o.ap
    ("order_status", K.TEXT),  # o.X
    ("last_fill_quantity", K.FLOAT),  # o.l
    ("accumulated_fill_quantity", K.FLOAT),  # o.z
    ("pair", K.TEXT),  # o.ps (CM always; UM since ~2026-10)
    ("st", K.INT),  # o.st (UM since ~2026-10)
)

_FUNDING = (
    ("calc_time", K.EPOCH_TIME),
    ("funding_interval_hours", K.INT),
    ("last_funding_rate", K.FLOAT),
)

_BVOL = (
    ("calc_time", K.EPOCH_TIME),
    ("symbol", K.DROPPED),  # equals the partition's symbol
    ("base_asset", K.TEXT),
    ("quote_asset", K.TEXT),
    ("index_value", K.FLOAT),
)

_EOH_NAMES = (
    "date,hour,symbol,underlying,type,strike,open,high,low,close,volume_contracts,volume_usdt,"
    "best_bid_price,best_ask_price,best_bid_qty,best_ask_qty,best_buy_iv,best_sell_iv,mark_price,mark_iv,"
    "delta,gamma,vega,theta,openinterest_contracts,openinterest_usdt"
)
_EOH_KINDS = {"date": K.TEXT_DATE, "hour": K.INT, "symbol": K.TEXT, "underlying": K.TEXT, "type": K.TEXT}
_EOH = tuple((n, _EOH_KINDS.get(n, K.FLOAT)) for n in _EOH_NAMES.split(","))


# REST-only statistics (issue 11), one column per field of the answers of reference §4.2 (UM, keyed by symbol)
# and §4.4 (CM, keyed by pair; open interest and taker volume also by contract type: the lake collects
# `contractType=ALL`, the pair's total, so every market's key is the time). Names in the lake's snake case;
# `timestamp` is the period's time as REST gives it.
_OI_UM = (
    ("timestamp", K.EPOCH_TIME),
    ("sum_open_interest", K.FLOAT),  # sumOpenInterest
    ("sum_open_interest_value", K.FLOAT),  # sumOpenInterestValue
    ("cmc_circulating_supply", K.FLOAT),  # CMCCirculatingSupply (newer; NULL where absent)
)
_OI_CM = (
    ("timestamp", K.EPOCH_TIME),
    ("sum_open_interest", K.FLOAT),
    ("sum_open_interest_value", K.FLOAT),
)
_RATIO_ACCOUNT = (
    ("timestamp", K.EPOCH_TIME),
    ("long_short_ratio", K.FLOAT),  # longShortRatio
    ("long_account", K.FLOAT),  # longAccount
    ("short_account", K.FLOAT),  # shortAccount
)
# CM's position ratio says longPosition/shortPosition where UM's says longAccount/shortAccount (§4.4).
_RATIO_POSITION_CM = (
    ("timestamp", K.EPOCH_TIME),
    ("long_short_ratio", K.FLOAT),
    ("long_position", K.FLOAT),
    ("short_position", K.FLOAT),
)
_TAKER_UM = (
    ("timestamp", K.EPOCH_TIME),
    ("buy_sell_ratio", K.FLOAT),  # buySellRatio
    ("buy_vol", K.FLOAT),  # buyVol
    ("sell_vol", K.FLOAT),  # sellVol
)
_TAKER_CM = (
    ("timestamp", K.EPOCH_TIME),
    ("taker_buy_vol", K.FLOAT),  # takerBuyVol (contracts)
    ("taker_sell_vol", K.FLOAT),  # takerSellVol
    ("taker_buy_vol_value", K.FLOAT),  # takerBuyVolValue (base asset)
    ("taker_sell_vol_value", K.FLOAT),  # takerSellVolValue
)
STATISTICS_PERIOD = "5m"
STATISTICS_CONTRACT_TYPE = "ALL"  # CM open interest and taker volume: the pair's total over contract types


def _statistics(
    name: str, description: str, layouts: Mapping[Market, tuple[tuple[str, ColumnKind], ...]]
) -> DatasetSpec:
    """A REST-only `/futures/data/*` dataset: no archive, no cadence, collected at `STATISTICS_PERIOD`. CM's
    are keyed by pair, so a CM series' symbol is the pair (`BTCUSD`); UM's is the contract symbol."""
    keyed = {m: _futures_header(*columns) for m, columns in layouts.items()}
    return DatasetSpec(
        name=name,
        description=description,
        layouts=MappingProxyType(keyed),
        cadences=_NO_CADENCE,
        has_interval=False,
        time_column="timestamp",
        unique_key=("timestamp",),
        granularity=Granularity.MONTH,
        in_archive=False,
        rest_period=STATISTICS_PERIOD,
    )


def _futures_only(columns: tuple[tuple[str, ColumnKind], ...]) -> Mapping[Market, CsvLayout]:
    layout = _futures_header(*columns)
    return MappingProxyType(dict.fromkeys(_FUTURES, layout))


_SPECS: tuple[DatasetSpec, ...] = (
    _kline_family("klines", "OHLCV bars", (Market.SPOT, Market.UM, Market.CM)),
    _kline_family("markPriceKlines", "mark-price OHLC bars (volume columns are 0)", _FUTURES),
    _kline_family(
        "indexPriceKlines",
        "index-price OHLC bars; the directory is the pair (BTCUSDT, ETHUSD)",
        _FUTURES,
        directory_is_pair=True,
    ),
    _kline_family("premiumIndexKlines", "premium-index OHLC bars (volume columns are 0)", _FUTURES),
    DatasetSpec(
        name="fundingRate",
        description="funding rate at each funding time (archive: monthly files only, no mark price)",
        layouts=_futures_only(_FUNDING),
        cadences=_MONTHLY,
        has_interval=False,
        time_column="calc_time",
        unique_key=("calc_time",),
        granularity=Granularity.MONTH,
    ),
    DatasetSpec(
        name="metrics",
        description="open interest and long/short ratios on a 5-minute grid (daily files only)",
        layouts=_futures_only(_METRICS),
        cadences=_DAILY,
        has_interval=False,
        time_column="create_time",
        unique_key=("create_time",),
        granularity=Granularity.MONTH,
        first_day=MappingProxyType({Market.UM: quirks.UM_METRICS_FIRST_DAY}),
    ),
    DatasetSpec(
        name="aggTrades",
        description="aggregate trades",
        layouts=MappingProxyType(
            {
                Market.SPOT: _layout(None, *_AGG_SPOT),
                Market.UM: _futures_header(*_AGG_FUTURES),
                Market.CM: _futures_header(*_AGG_FUTURES),
            }
        ),
        cadences=_BOTH_CADENCES,
        has_interval=False,
        time_column="transact_time",
        unique_key=("agg_trade_id",),
        granularity=Granularity.DAY,
    ),
    DatasetSpec(
        name="trades",
        description="individual trades",
        layouts=MappingProxyType(
            {
                Market.SPOT: _layout(None, *_TRADES_SPOT),
                Market.UM: _futures_header(*_TRADES_UM),
                Market.CM: _futures_header(*_TRADES_CM),
            }
        ),
        cadences=_BOTH_CADENCES,
        has_interval=False,
        time_column="time",
        unique_key=("id",),
        granularity=Granularity.DAY,
    ),
    DatasetSpec(
        name="bookTicker",
        description="best bid/ask updates (UM stopped 2024-03-30, CM 2024-10-15)",
        layouts=_futures_only(_BOOK_TICKER),
        cadences=_BOTH_CADENCES,
        has_interval=False,
        time_column="transaction_time",
        unique_key=(),
        granularity=Granularity.DAY,
        last_day=MappingProxyType({Market.UM: quirks.UM_BOOKTICKER_LAST_DAY}),
    ),
    DatasetSpec(
        name="bookDepth",
        description="order-book depth at ±1..5 % every 30 s (daily files only)",
        layouts=_futures_only(_BOOK_DEPTH),
        cadences=_DAILY,
        has_interval=False,
        time_column="timestamp",
        unique_key=("timestamp", "percentage"),
        granularity=Granularity.DAY,
        first_day=MappingProxyType(dict.fromkeys(_FUTURES, quirks.BOOKDEPTH_FIRST_DAY)),
    ),
    DatasetSpec(
        name="liquidationSnapshot",
        description="liquidation orders (every row appears twice upstream; CM only, until 2024-10-14)",
        layouts=_futures_only(_LIQUIDATION),
        cadences=_DAILY,
        has_interval=False,
        time_column="time",
        unique_key=(),
        granularity=Granularity.DAY,
        first_day=MappingProxyType({Market.CM: quirks.CM_LIQUIDATION_FIRST_DAY}),
        last_day=MappingProxyType({Market.CM: quirks.CM_LIQUIDATION_LAST_DAY}),
    ),
    DatasetSpec(
        name="BVOLIndex",
        description="Binance volatility index, about one row per second",
        layouts=MappingProxyType({Market.OPTION: _futures_header(*_BVOL)}),
        cadences=_DAILY,
        has_interval=False,
        time_column="calc_time",
        unique_key=("calc_time",),
        granularity=Granularity.DAY,
    ),
    DatasetSpec(
        name="EOHSummary",
        description="hourly option summaries per underlying",
        layouts=MappingProxyType({Market.OPTION: _futures_header(*_EOH)}),
        cadences=_DAILY,
        has_interval=False,
        time_column="date",
        unique_key=("date", "hour", "symbol"),
        granularity=Granularity.DAY,
    ),
    DatasetSpec(
        name="markPrice",
        description="mark price, index, estimated settle price and funding from the markPrice stream",
        layouts=_futures_only(_MARK_PRICE),
        cadences=_NO_CADENCE,
        has_interval=False,
        time_column="event_time",
        unique_key=("event_time",),
        granularity=Granularity.DAY,
        in_archive=False,
    ),
    DatasetSpec(
        name="liquidations",
        description="liquidation orders from the forceOrder stream (stream-only: the archive stopped)",
        layouts=_futures_only(_LIQUIDATIONS),
        cadences=_NO_CADENCE,
        has_interval=False,
        time_column="time",
        unique_key=(),
        granularity=Granularity.DAY,
        in_archive=False,
    ),
    _statistics(
        "openInterestHist",
        "open interest every 5 minutes (REST only, latest 30 days upstream; CM per pair and contract type)",
        {Market.UM: _OI_UM, Market.CM: _OI_CM},
    ),
    _statistics(
        "topLongShortAccountRatio",
        "top traders' long/short account ratio every 5 minutes (REST only, latest 30 days upstream)",
        {Market.UM: _RATIO_ACCOUNT, Market.CM: _RATIO_ACCOUNT},
    ),
    _statistics(
        "topLongShortPositionRatio",
        "top traders' long/short position ratio every 5 minutes (REST only, latest 30 days upstream)",
        {Market.UM: _RATIO_ACCOUNT, Market.CM: _RATIO_POSITION_CM},
    ),
    _statistics(
        "globalLongShortAccountRatio",
        "all accounts' long/short ratio every 5 minutes (REST only, latest 30 days upstream)",
        {Market.UM: _RATIO_ACCOUNT, Market.CM: _RATIO_ACCOUNT},
    ),
    _statistics(
        "takerlongshortRatio",
        "taker buy/sell volume ratio every 5 minutes (UM, REST only, latest 30 days upstream)",
        {Market.UM: _TAKER_UM},
    ),
    _statistics(
        "takerBuySellVol",
        "taker buy/sell volume per contract type every 5 minutes (CM, REST only, latest 30 days upstream)",
        {Market.CM: _TAKER_CM},
    ),
)

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({s.name: s for s in _SPECS})

KLINE_FAMILY: tuple[str, ...] = tuple(s.name for s in _SPECS if s.has_interval)

REST_STATISTICS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.rest_period is not None)
"""The REST-only `/futures/data/*` datasets (open interest history, long/short ratios, taker volume)."""


def get_dataset(name: str) -> DatasetSpec:
    """Look a dataset up by Binance's name; the lookup ignores case (`fundingrate` finds `fundingRate`)."""
    spec = DATASETS.get(name)
    if spec is not None:
        return spec
    for known in DATASETS.values():
        if known.name.lower() == name.strip().lower():
            return known
    raise UsageError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")


def check_series(dataset: str, market: Market, interval: Interval | None, symbol: str) -> DatasetSpec:
    """Validate one series (dataset, market, interval, symbol) against the registry; return its spec.

    Raises `UsageError` naming what is wrong: a dataset spelled otherwise than Binance spells it, a dataset the
    market does not have, an interval missing or unexpected or not offered by the market, a bad symbol.
    """
    spec = get_dataset(dataset)
    if spec.name != dataset:
        raise UsageError(f"dataset is spelled {spec.name!r}, not {dataset!r}")
    spec.layout(market)  # raises when the dataset does not exist in this market
    if spec.has_interval != (interval is not None):
        raise UsageError(f"{dataset} {'needs an interval' if spec.has_interval else 'takes no interval'}")
    if interval is not None and interval not in intervals_for(market):
        raise UsageError(f"interval {interval.value} does not exist in market {market.value}")
    if not is_symbol(symbol):
        raise UsageError(f"invalid symbol {symbol!r}")
    return spec


def datasets_for(market: Market, *, archive_only: bool = False) -> tuple[DatasetSpec, ...]:
    """The datasets of `market`; with `archive_only`, only those the archive publishes."""
    return tuple(s for s in _SPECS if market in s.layouts and (s.in_archive or not archive_only))
