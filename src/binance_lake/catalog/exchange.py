"""`exchange_symbols`: exchangeInfo of each market, replaced only when the exchange says something new."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pyarrow as pa

from binance_lake.binance.rest_client import EXCHANGE_INFO, ExchangeSymbol
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import Connection

_EXCHANGE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("market", pa.string()),
    ("symbol", pa.string()),
    ("pair", pa.string()),
    ("status", pa.string()),
    ("contract_type", pa.string()),
    ("onboard_date", pa.date32()),
    ("delivery_date", pa.date32()),
    ("base_asset", pa.string()),
    ("quote_asset", pa.string()),
]
EXCHANGE_SCHEMA = pa.schema(_EXCHANGE_FIELDS)


def apply_exchange_symbols(
    connection: Connection, market: str, symbols: pa.Table, *, now: dt.datetime
) -> int:
    """Replace one market's exchangeInfo symbols (`EXCHANGE_SCHEMA` rows); returns how many rows differ.

    Nothing is written when the exchange says what it said last time (the fetch time alone is no change).
    """
    columns = ", ".join(EXCHANGE_SCHEMA.names)
    connection.register("fetched_symbols", symbols)
    try:
        rows = connection.execute(
            f"""
            SELECT count(*) FROM (
                (SELECT {columns} FROM fetched_symbols
                 EXCEPT ALL SELECT {columns} FROM exchange_symbols WHERE market = ?)
                UNION ALL
                (SELECT {columns} FROM exchange_symbols WHERE market = ?
                 EXCEPT ALL SELECT {columns} FROM fetched_symbols)
            )
            """,
            [market, market],
        ).fetchall()
        differing = int(rows[0][0]) if rows else 0
        if differing:
            connection.execute("BEGIN TRANSACTION")
            connection.execute("DELETE FROM exchange_symbols WHERE market = ?", [market])
            connection.execute(
                f"INSERT INTO exchange_symbols SELECT {columns}, ? FROM fetched_symbols", [now]
            )
            connection.execute("COMMIT")
        return differing
    finally:
        connection.unregister("fetched_symbols")


class ExchangeInfoSource(Protocol):
    """The part of the REST client the refresh needs (see `binance.rest_client.RestClient`)."""

    async def exchange_info(self, market: Market) -> list[ExchangeSymbol]: ...


async def fetch_exchange_tables(
    source: ExchangeInfoSource, markets: tuple[Market, ...]
) -> tuple[dict[str, pa.Table], str | None]:
    """exchangeInfo of every chosen market that has one, as tables; on failure, the reason instead."""
    tables: dict[str, pa.Table] = {}
    try:
        for market in markets:
            if market in EXCHANGE_INFO:
                symbols = await source.exchange_info(market)
                tables[market.value] = exchange_table(symbols)
    except BinanceLakeError as error:
        return {}, str(error)
    return tables, None


def exchange_table(symbols: list[ExchangeSymbol]) -> pa.Table:
    """exchangeInfo symbols in `EXCHANGE_SCHEMA`."""
    return pa.Table.from_pylist(
        [
            {
                "market": s.market.value,
                "symbol": s.symbol,
                "pair": s.pair,
                "status": s.status,
                "contract_type": s.contract_type,
                "onboard_date": s.onboard_date,
                "delivery_date": s.delivery_date,
                "base_asset": s.base_asset,
                "quote_asset": s.quote_asset,
            }
            for s in symbols
        ],
        schema=EXCHANGE_SCHEMA,
    )
