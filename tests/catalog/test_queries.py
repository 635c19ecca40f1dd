"""`Filters`: each field takes None (all), one value or several, in SQL exactly as `allows` says in Python."""

from __future__ import annotations

import itertools

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.catalog.queries import Filters, Wanted, allows

MARKETS, DATASETS, INTERVALS, SYMBOLS = (
    ("um", "cm", "spot"),
    ("klines", "fundingRate"),
    ("1h", "1d"),
    ("A", "B"),
)
ROWS = [
    (m, d, i if d == "klines" else None, s)
    for m, d, i, s in itertools.product(MARKETS, DATASETS, INTERVALS, SYMBOLS)
]


def wanted(values: tuple[str, ...]) -> st.SearchStrategy[Wanted]:
    return st.one_of(
        st.none(),
        st.sampled_from(values),
        st.lists(st.sampled_from(values), min_size=1, max_size=3).map(tuple),
    )


@settings(max_examples=60, deadline=None)
@given(wanted(MARKETS), wanted(DATASETS), wanted(INTERVALS), wanted(SYMBOLS))
def test_sql_selects_what_allows_lets_through(
    market: Wanted, dataset: Wanted, interval: Wanted, symbol: Wanted
) -> None:
    filters = Filters(market=market, dataset=dataset, interval=interval, symbol=symbol)
    where, params = filters.sql("t")
    with duckdb.connect() as connection:
        connection.execute(
            'CREATE TABLE t (market VARCHAR, dataset VARCHAR, "interval" VARCHAR, symbol VARCHAR)'
        )
        connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", ROWS)
        got = set(connection.execute(f"SELECT * FROM t WHERE {where}", params).fetchall())
    expected = {
        row
        for row in ROWS
        if allows(market, row[0])
        and allows(dataset, row[1])
        and allows(interval, row[2])
        and allows(symbol, row[3])
    }
    assert got == expected
