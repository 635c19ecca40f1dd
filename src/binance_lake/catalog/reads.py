"""Typed reads of the catalog's tables for the packages above it (engine/, load/): each question one function
with its SQL here, beside the tables' writers, and a typed answer, so no other package spells catalog SQL.

`schema` names the database the tables live in: "" for the connection's own, `"lake."` for a lake attached
read-only under that alias (load/connection.attached), as in `queries.traded_sql`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from binance_lake.catalog.queries import traded_sql
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.storage.database import Connection

# A symbol's life span: its first and last day (None where unknown).
Span = tuple[dt.date | None, dt.date | None]


@dataclass(frozen=True)
class ListedFile:
    """A file the catalog says the archive holds now (not gone)."""

    key: str  # as listed (may be non-canonical, e.g. `ADABKRW-1d-2020-8.zip`)
    file: ArchiveFile
    size: int
    etag: str
    has_checksum: bool  # a `.CHECKSUM` was listed beside it


def listed_symbols(connection: Connection, market: Market, *, schema: str = "") -> set[str]:
    """Every symbol (directory name) of `market` with a file the archive holds now."""
    rows = connection.execute(
        f"SELECT DISTINCT symbol FROM {schema}upstream_files WHERE market = ? AND NOT gone", [market.value]
    ).fetchall()
    return {str(row[0]) for row in rows}


def listed_files(
    connection: Connection,
    market: Market,
    dataset: str,
    directories: list[str],
    intervals: list[str],
    first: dt.date,
    last: dt.date,
    *,
    schema: str = "",
) -> list[ListedFile]:
    """The files of one dataset whose symbol directory is one of `directories` and whose interval (when the
    dataset has one) is one of `intervals`, touching a day of `first .. last`; in key order."""
    rows = connection.execute(
        f"""
        SELECT key, cadence, symbol, "interval", period, size, etag, checksum_size IS NOT NULL
        FROM {schema}upstream_files
        WHERE NOT gone AND market = ? AND dataset = ? AND list_contains(?, symbol)
          AND ("interval" IS NULL OR list_contains(?, "interval"))
          AND last_day >= ? AND first_day <= ?
        ORDER BY key
        """,
        [market.value, dataset, directories, intervals, first, last],
    ).fetchall()
    return [
        ListedFile(
            key,
            ArchiveFile(
                market, Cadence(cadence), dataset, symbol, Interval(interval) if interval else None, period
            ),
            int(size or 0),
            etag or "",
            bool(has_checksum),
        )
        for key, cadence, symbol, interval, period, size, etag, has_checksum in rows
    ]


def exchange_pairs(
    connection: Connection, market: Market, symbols: tuple[str, ...], *, schema: str = ""
) -> dict[str, str]:
    """The index pair exchangeInfo gives each of `symbols` (only those it names with a pair)."""
    rows = connection.execute(
        f"SELECT symbol, pair FROM {schema}exchange_symbols "
        "WHERE market = ? AND list_contains(?, symbol) AND pair IS NOT NULL AND pair <> ''",
        [market.value, list(symbols)],
    ).fetchall()
    return {str(s): str(p) for s, p in rows}


def life_spans(
    connection: Connection,
    market: Market,
    dataset: str,
    interval: str | None,
    *,
    schema: str = "",
    exchange: bool = True,
) -> dict[str, Span]:
    """Each symbol's life span in one series: the days the archive has files for, narrowed by exchangeInfo's
    onboard and delivery dates when `exchange` (the catalog has `exchange_symbols`)."""
    join = (
        f"LEFT JOIN (SELECT symbol, min(onboard_date) AS onboard, min(delivery_date) AS delivery "
        f"FROM {schema}exchange_symbols WHERE market = $market GROUP BY symbol) e USING (symbol)"
        if exchange
        else ""
    )
    onboard = "greatest(s.first_day, coalesce(e.onboard, s.first_day))" if exchange else "s.first_day"
    delivery = "least(s.last_day, coalesce(e.delivery, s.last_day))" if exchange else "s.last_day"
    rows = connection.execute(
        f"""
        SELECT symbol, {onboard}, {delivery} FROM (
            SELECT symbol, min(first_day) AS first_day, max(last_day) AS last_day FROM {schema}upstream_files
            WHERE NOT gone AND market = $market AND dataset = $dataset AND "interval" IS NOT DISTINCT FROM $interval
            GROUP BY symbol
        ) s {join}
        """,
        {"market": market.value, "dataset": dataset, "interval": interval},
    ).fetchall()
    return {str(s): (f, l_) for s, f, l_ in rows}


def traded_in(
    connection: Connection,
    market: Market,
    datasets: list[str],
    intervals: list[str],
    first: dt.date,
    last: dt.date,
    *,
    schema: str = "",
    listings: bool = True,
    include_settled: bool = False,
) -> set[str]:
    """The symbols that traded on a day of `first .. last`, by the rule `sync --all` uses
    (`queries.traded_sql`); `listings` False for a catalog without `listed_ranges`."""
    rows = connection.execute(
        traded_sql(schema, listings=listings),
        {
            "market": market.value,
            "datasets": datasets,
            "intervals": intervals,
            "first": first,
            "last": last,
            "include_settled": include_settled,
        },
    ).fetchall()
    return {str(r[0]) for r in rows}


TRADING_STATUSES = ("TRADING", "PENDING_TRADING")


def stopped_trading(connection: Connection, market: Market, *, schema: str = "") -> set[str]:
    """Symbols exchangeInfo lists in `market` with a status other than trading (delisted, settling, delivered,
    closed, on a break): REST has nothing for them after their last archive day."""
    rows = connection.execute(
        f"SELECT DISTINCT symbol FROM {schema}exchange_symbols "
        "WHERE market = ? AND status IS NOT NULL AND NOT list_contains(?, status)",
        [market.value, list(TRADING_STATUSES)],
    ).fetchall()
    return {str(row[0]) for row in rows}


def upstream_table(connection: Connection, *, schema: str = "") -> pa.Table:
    """Every file the catalog lists (gone ones too): key, market, dataset, interval, symbol, cadence,
    first_day, last_day, etag, gone."""
    table: pa.Table = connection.sql(
        f'SELECT key, market, dataset, "interval", symbol, cadence, first_day, last_day, etag, gone '
        f"FROM {schema}upstream_files"
    ).to_arrow_table()
    return table


def symbol_lives(connection: Connection, *, schema: str = "") -> pa.Table:
    """Each listed symbol's life per market (the `symbols` view): market, symbol, first_day, last_day,
    delisted (NULL: not known)."""
    table: pa.Table = connection.sql(
        f"SELECT market, symbol, first_day, last_day, delisted FROM {schema}symbols"
    ).to_arrow_table()
    return table


def listed_table(connection: Connection, *, schema: str = "") -> pa.Table:
    """What was listed completely: prefix, market, cadence, dataset, symbol, interval, first_day, last_day
    (NULL: every value, or the directory's whole history)."""
    table: pa.Table = connection.sql(
        f'SELECT prefix, market, cadence, dataset, symbol, "interval", first_day, last_day FROM {schema}listed_ranges'
    ).to_arrow_table()
    return table
