"""The rules as data: every rule's SQL is well-formed for each family it applies to (run over an empty
relation of that dataset's columns), thresholds are settable by name, and the table lists every rule."""

from __future__ import annotations

import duckdb
import pytest

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Market
from binance_lake.quality.rules import RULES, Family, families_of, resolve_rules, rules_table
from binance_lake.quality.scan import Group, _prev_columns, _rules_sql


@pytest.mark.parametrize(
    "dataset", ["klines", "premiumIndexKlines", "aggTrades", "trades", "metrics", "fundingRate"]
)
def test_every_rule_runs_on_its_datasets_columns(dataset: str) -> None:
    spec = get_dataset(dataset)
    schema = spec.schema(Market.UM)
    connection = duckdb.connect()
    columns = ", ".join(f'NULL::{_sql_type(str(f.type))} AS "{f.name}"' for f in schema)
    lags = ", ".join(f'NULL::{_sql_type(str(schema.field(c).type)) if c != "day" else "DATE"} AS "prev_{c}"'
                     for c in _prev_columns(families_of(dataset)))  # fmt: skip
    connection.execute(
        f"CREATE TABLE t AS SELECT {columns}, 'X' AS symbol, 'um' AS market, NULL::TIMESTAMPTZ AS ts, "
        f"NULL::DATE AS day, {lags} WHERE false"
    )
    group = Group(Market.UM, dataset, None, ())
    assert connection.sql(_rules_sql(group, RULES)).fetchall() == []


def _sql_type(arrow: str) -> str:
    return {"double": "DOUBLE", "int64": "BIGINT", "bool": "BOOLEAN", "string": "VARCHAR"}.get(
        arrow, "TIMESTAMPTZ"
    )


def test_families() -> None:
    assert Family.PRICES in families_of("klines") and Family.KLINES in families_of("klines")
    assert Family.PRICES not in families_of("premiumIndexKlines") and Family.BARS in families_of(
        "premiumIndexKlines"
    )
    assert families_of("aggTrades") == {Family.ANY, Family.AGG_TRADES}


def test_thresholds_by_name_and_unknown_names_refused() -> None:
    rules = resolve_rules({"outlier_move": 0.2})
    assert next(r for r in rules if r.name == "outlier_move").threshold == 0.2
    assert next(r for r in RULES if r.name == "outlier_move").threshold == 0.10
    with pytest.raises(UsageError, match="unknown quality rule typo"):
        resolve_rules({"typo": 1})
    table = rules_table()
    assert table.column("rule").to_pylist() == [r.name for r in RULES]
    assert len(set(table.column("rule").to_pylist())) == len(RULES)
