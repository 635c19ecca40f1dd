"""The coverage facts query: one round trip answers what the lake holds (`day_provenance`, or `file_state` on
an older lake), what the catalog knows (`upstream_files`, `listed_ranges`) and the recorded partitions, and a
lake without some of those tables reads as holding nothing of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import duckdb

from binance_lake.core.vocabulary import Market
from binance_lake.load.connection import attached, cursor, tables_of
from binance_lake.storage.coverage_facts import CoverageFacts, coverage_facts
from binance_lake.storage.database import Connection, LakeDatabase
from binance_lake.storage.schema import FileStatus, ensure_schema

SERIES = (("klines", "1h"),)
NOW = "TIMESTAMPTZ '2024-03-01 00:00:00+00'"


def _lake(root: Path) -> None:
    database = LakeDatabase(root)
    ensure_schema(database)
    with database.connect() as connection:
        for day in (1, 2, 3, 6):
            connection.execute(
                "INSERT INTO day_provenance VALUES "
                f"('p', 'klines', 'um', '1h', 'BTCUSDT', DATE '2024-01-0{day}', 'archive_daily', 'k', NULL, 24, {NOW})"
            )
        for symbol, gone in (("BTCUSDT", False), ("ETHUSDT", False), ("ETHUSDT", True)):
            connection.execute(
                "INSERT INTO upstream_files VALUES ($key, 'um', $dataset, $symbol, '1h', 'daily', "
                f"DATE '2024-01-01', DATE '2024-01-01', $last, 1, 'e', NULL, NULL, true, {NOW}, {NOW}, $gone)",
                {
                    "key": f"{symbol}-{gone}",
                    "dataset": "klines",
                    "symbol": symbol,
                    "last": dt.date(2024, 1, 20 if gone else 10),
                    "gone": gone,
                },
            )
        connection.execute(
            "INSERT INTO listed_ranges VALUES ('x/', 'um', 'daily', 'klines', NULL, '1h', "
            f"DATE '2024-01-01', DATE '2024-01-31', {NOW})"
        )
        connection.execute(
            "INSERT INTO partitions VALUES ('p', 'klines', 'um', '1h', 'BTCUSDT', DATE '2024-01-01', 96, 10, 7, "
            f"{NOW})"
        )


class _Counting:
    """A connection that counts its queries (the read path's cost is per round trip)."""

    def __init__(self, inner: duckdb.DuckDBPyConnection) -> None:
        self.inner = inner
        self.queries = 0

    def execute(self, *args: Any) -> duckdb.DuckDBPyConnection:
        self.queries += 1
        return self.inner.execute(*args)


def _facts(
    root: Path, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "XRPUSDT")
) -> tuple[CoverageFacts, int]:
    with cursor() as handle, attached(handle, root) as alias:
        tables = tables_of(handle, alias)
        counting = _Counting(handle)
        found = coverage_facts(
            cast(Connection, counting),
            alias,
            tables,
            Market.UM,
            SERIES,
            symbols,
            dt.date(2024, 1, 2),
            dt.date(2024, 1, 31),
        )
        return found, counting.queries


def test_one_query_answers_held_days_catalog_listings_and_partitions(tmp_path: Path) -> None:
    _lake(tmp_path)
    found, queries = _facts(tmp_path)
    assert queries == 1
    key = (SERIES[0], "BTCUSDT")
    assert found.held == {key}
    # The held days that touch the asked range, in runs (Jan 1 is before it but in the same run).
    assert sorted(found.spans[key]) == [
        (dt.date(2024, 1, 2), dt.date(2024, 1, 3)),
        (dt.date(2024, 1, 6), dt.date(2024, 1, 6)),
    ]
    assert found.known == {"BTCUSDT", "ETHUSDT"}
    # A gone file does not extend a life span.
    assert found.life[(SERIES[0], "ETHUSDT")] == (dt.date(2024, 1, 1), dt.date(2024, 1, 10))
    assert found.listed == (("klines", "1h", None, (dt.date(2024, 1, 1), dt.date(2024, 1, 31))),)
    assert found.partitions == {key: {dt.date(2024, 1, 1): (10, 7)}}


def test_no_lake_and_an_empty_lake_hold_nothing(tmp_path: Path) -> None:
    none, queries = _facts(tmp_path)
    assert none == CoverageFacts() and queries == 0
    ensure_schema(LakeDatabase(tmp_path))
    empty, queries = _facts(tmp_path)
    assert queries == 1
    assert empty == CoverageFacts(listed=())


def test_a_lake_from_before_day_provenance_holds_its_ingested_files_days(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    ensure_schema(database)
    with database.connect() as connection:
        # Read as it is (a reader cannot migrate): no day_provenance, so the ingested files' spans say it.
        connection.execute("DROP TABLE day_provenance")
        for key, first, last, status in (
            ("a", "2024-01-01", "2024-01-04", FileStatus.INGESTED),
            ("b", "2024-01-10", "2024-01-10", FileStatus.FAILED),
        ):
            connection.execute(
                f'INSERT INTO file_state (key, market, dataset, symbol, "interval", cadence, period, first_day, '
                f"last_day, status, provenance, updated_at) VALUES ('{key}', 'um', 'klines', 'BTCUSDT', '1h', "
                f"'daily', DATE '{first}', DATE '{first}', DATE '{last}', $status, 'archive', {NOW})",
                {"status": status.value},
            )
    found, queries = _facts(tmp_path)
    assert queries == 1
    key = (SERIES[0], "BTCUSDT")
    assert found.held == {key}
    assert found.spans == {key: ((dt.date(2024, 1, 1), dt.date(2024, 1, 4)),)}
