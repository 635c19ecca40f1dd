"""The catalog's typed reads: each answers from the tables the writers fill, gone files excluded, and the same
through an attached lake (`schema="lake."`) as through the lake's own connection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from binance_lake.binance.rest_client import ExchangeSymbol
from binance_lake.catalog import reads
from binance_lake.catalog.diff import SeenFile, apply_seen, seen_table
from binance_lake.catalog.exchange import apply_exchange_symbols
from binance_lake.catalog.refresh import exchange_table
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.archive import ParsedKey, parse_key
from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import LakeDatabase

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PREFIX = "data/futures/um/daily/klines/"
D = dt.date


def _seen(key: str, checksum: int | None = 92) -> SeenFile:
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey)
    return SeenFile(parsed, 100, "e0", T0, checksum)


def _kline(symbol: str, day: int, checksum: int | None = 92) -> SeenFile:
    return _seen(f"{PREFIX}{symbol}/1h/{symbol}-1h-2024-01-{day:02d}.zip", checksum)


@pytest.fixture
def database(tmp_path: Path) -> LakeDatabase:
    db = LakeDatabase(tmp_path)
    ensure_catalog(db)
    files = [_kline("BTCUSDT", d) for d in range(1, 6)] + [_kline("ETHUSDT", 3, None), _kline("GONEUSDT", 2)]
    with db.connect() as c:
        apply_seen(c, seen_table(files), now=T0, scope=None)
        # GONEUSDT's directory is listed again without its file: gone.
        apply_seen(c, seen_table([]), now=T0, scope=[(f"{PREFIX}GONEUSDT/", None, None)])
        symbols = [
            ExchangeSymbol(
                Market.UM, "BTCUSDT", "BTCUSDT", "TRADING", "PERPETUAL", D(2024, 1, 2), None, "BTC", "USDT"
            ),
            ExchangeSymbol(Market.UM, "ETHUSDT", "", "TRADING", "PERPETUAL", None, None, "ETH", "USDT"),
        ]
        apply_exchange_symbols(c, "um", exchange_table(symbols), now=T0)
    return db


@pytest.fixture(params=["own", "attached"])
def handle(request: pytest.FixtureRequest, database: LakeDatabase) -> tuple[duckdb.DuckDBPyConnection, str]:
    if request.param == "own":
        context = database.connect()
        request.addfinalizer(lambda: context.__exit__(None, None, None))
        return context.__enter__(), ""
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{database.path}' AS lake (READ_ONLY)")
    request.addfinalizer(connection.close)
    return connection, "lake."


def test_listed_symbols_leave_out_gone_files(handle: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = handle
    assert reads.listed_symbols(connection, Market.UM, schema=schema) == {"BTCUSDT", "ETHUSDT"}
    assert reads.listed_symbols(connection, Market.CM, schema=schema) == set()


def test_listed_files_are_typed_and_in_key_order(handle: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = handle
    files = reads.listed_files(
        connection,
        Market.UM,
        "klines",
        ["BTCUSDT", "ETHUSDT", "GONEUSDT"],
        ["1h"],
        D(2024, 1, 2),
        D(2024, 1, 3),
        schema=schema,
    )
    assert [f.key for f in files] == sorted(f.key for f in files)
    assert [(f.file.symbol, f.file.period, f.has_checksum) for f in files] == [
        ("BTCUSDT", D(2024, 1, 2), True),
        ("BTCUSDT", D(2024, 1, 3), True),
        ("ETHUSDT", D(2024, 1, 3), False),
    ]
    assert all(f.key == f.file.key and f.size == 100 and f.etag == "e0" for f in files)
    other = ["BTCUSDT"], ["4h"], D(2024, 1, 1), D(2024, 1, 9)
    assert reads.listed_files(connection, Market.UM, "klines", *other, schema=schema) == []


def test_exchange_pairs_skip_empty_pairs(handle: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = handle
    assert reads.exchange_pairs(connection, Market.UM, ("BTCUSDT", "ETHUSDT", "XUSDT"), schema=schema) == {
        "BTCUSDT": "BTCUSDT"
    }


def test_life_spans_narrowed_by_the_exchange(handle: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = handle
    wide = reads.life_spans(connection, Market.UM, "klines", "1h", schema=schema, exchange=False)
    assert wide == {"BTCUSDT": (D(2024, 1, 1), D(2024, 1, 5)), "ETHUSDT": (D(2024, 1, 3), D(2024, 1, 3))}
    narrow = reads.life_spans(connection, Market.UM, "klines", "1h", schema=schema)
    assert narrow["BTCUSDT"] == (D(2024, 1, 2), D(2024, 1, 5)) and narrow["ETHUSDT"] == wide["ETHUSDT"]


def test_traded_in_follows_the_days(handle: tuple[duckdb.DuckDBPyConnection, str]) -> None:
    connection, schema = handle
    window = (["klines"], ["1h"])
    assert reads.traded_in(connection, Market.UM, *window, D(2024, 1, 3), D(2024, 1, 3), schema=schema) == {
        "BTCUSDT",
        "ETHUSDT",
    }
    assert reads.traded_in(connection, Market.UM, *window, D(2024, 1, 4), D(2024, 1, 9), schema=schema) == {
        "BTCUSDT"
    }
