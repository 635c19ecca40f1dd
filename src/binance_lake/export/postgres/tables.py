"""The PostgreSQL tables the lake exports to (seed 003's names) and where each column comes from.

Pure data: one `PgTable` per target table, naming the lake dataset it is read from, the lake column behind
every PostgreSQL column and its type. `ohlcv` and `mark_price` carry the kline interval as `timeframe`;
`open_interest` and `long_short_ratio` are both read from the `metrics` dataset. Every table ends with
`source`, the lake's provenance of the row's day (`archive_monthly`, `archive_daily`, `rest`, `stream`), so a
provisional row (REST or stream) is visible as such until the archive replaces it.

Keys are (symbol, [timeframe,] time); `liquidations` has no key (two orders can share a millisecond), which
is why the merge replaces a time range rather than upserting keys (export/postgres/sink.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from binance_lake.core.errors import UsageError
from binance_lake.core.provenance import Provenance


@dataclass(frozen=True)
class PgColumn:
    """A value column: its PostgreSQL name and type and the lake column it is copied from."""

    name: str
    lake: str
    pg_type: str  # double precision | bigint | integer | text


@dataclass(frozen=True)
class PgTable:
    """One exported table."""

    name: str
    dataset: str
    has_timeframe: bool
    time_lake: str  # the lake's time column, exported as `time`
    columns: tuple[PgColumn, ...]
    unique: bool  # whether (symbol, [timeframe,] time) is a primary key
    chunk: str  # TimescaleDB chunk interval
    compress_after: str  # TimescaleDB compression policy: chunks older than this

    @property
    def key(self) -> tuple[str, ...]:
        return ("symbol", "timeframe", "time") if self.has_timeframe else ("symbol", "time")

    @property
    def lake_columns(self) -> tuple[str, ...]:
        """What to read from the lake: the time column, then the value columns."""
        return (self.time_lake, *(c.lake for c in self.columns))

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Every column of the table, in table order."""
        return (*self.key, *(c.name for c in self.columns), "source")


F = "double precision"


def _floats(*names: tuple[str, str]) -> tuple[PgColumn, ...]:
    return tuple(PgColumn(pg, lake, F) for pg, lake in names)


_OHLC = _floats(("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"))

TABLES: tuple[PgTable, ...] = (
    PgTable(
        "ohlcv",
        "klines",
        True,
        "open_time",
        (
            *_OHLC,
            *_floats(("volume", "volume"), ("quote_volume", "quote_volume")),
            PgColumn("trades", "count", "bigint"),
            *_floats(
                ("taker_buy_volume", "taker_buy_volume"), ("taker_buy_quote_volume", "taker_buy_quote_volume")
            ),
        ),
        True,
        "7 days",
        "30 days",
    ),
    PgTable(
        "open_interest",
        "metrics",
        False,
        "create_time",
        _floats(
            ("open_interest", "sum_open_interest"),
            ("open_interest_value", "sum_open_interest_value"),
        ),
        True,
        "30 days",
        "90 days",
    ),
    PgTable(
        "funding_rate",
        "fundingRate",
        False,
        "calc_time",
        (
            PgColumn("funding_rate", "last_funding_rate", F),
            PgColumn("funding_interval_hours", "funding_interval_hours", "integer"),
        ),
        True,
        "90 days",
        "180 days",
    ),
    PgTable(
        "liquidations",
        "liquidationSnapshot",
        False,
        "time",
        (
            PgColumn("side", "side", "text"),
            PgColumn("order_type", "order_type", "text"),
            PgColumn("time_in_force", "time_in_force", "text"),
            PgColumn("original_quantity", "original_quantity", F),
            PgColumn("price", "price", F),
            PgColumn("average_price", "average_price", F),
            PgColumn("order_status", "order_status", "text"),
            PgColumn("last_fill_quantity", "last_fill_quantity", F),
            PgColumn("accumulated_fill_quantity", "accumulated_fill_quantity", F),
        ),
        False,
        "7 days",
        "30 days",
    ),
    PgTable(
        "long_short_ratio",
        "metrics",
        False,
        "create_time",
        _floats(
            ("top_trader_account_ratio", "count_toptrader_long_short_ratio"),
            ("top_trader_position_ratio", "sum_toptrader_long_short_ratio"),
            ("account_ratio", "count_long_short_ratio"),
            ("taker_buy_sell_ratio", "sum_taker_long_short_vol_ratio"),
        ),
        True,
        "30 days",
        "90 days",
    ),
    PgTable("mark_price", "markPriceKlines", True, "open_time", _OHLC, True, "7 days", "30 days"),
)

BY_NAME = {t.name: t for t in TABLES}

# The staged `source` is a small code (so a batch's binary COPY has fixed-width rows); 0 is "not recorded".
SOURCES: tuple[Provenance, ...] = tuple(Provenance)
SOURCE_CODES = {p.value: n + 1 for n, p in enumerate(SOURCES)}


def tables_for(datasets: tuple[str, ...] | None) -> tuple[PgTable, ...]:
    """The tables fed by `datasets` (lake names; None is every exportable dataset), in `TABLES` order."""
    if datasets is None:
        return TABLES
    known = {t.dataset for t in TABLES}
    unknown = [d for d in datasets if d not in known]
    if unknown:
        raise UsageError(
            f"cannot export {', '.join(unknown)} to PostgreSQL; exportable datasets: {', '.join(sorted(known))}"
        )
    return tuple(t for t in TABLES if t.dataset in datasets)
