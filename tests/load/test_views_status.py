"""sql over the lake's views, status coverage and problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.state import FileStatus
from binance_lake.load.status import problems, status
from binance_lake.load.views import sql
from tests.load.lakes import LakeBuilder, bars, funding

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
D = dt.date


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    b = LakeBuilder(tmp_path)
    b.put("klines", "BTCUSDT", bars(T0, 48, Interval.H1), D(2024, 1, 1), D(2024, 1, 2), interval=Interval.H1)
    b.put("klines", "ETHUSDT", bars(T0, 24, Interval.H1), D(2024, 1, 1), D(2024, 1, 1), interval=Interval.H1)
    b.put(
        "klines",
        "ETHUSDT",
        bars(T0, 24, Interval.H1),
        D(2024, 1, 2),
        D(2024, 1, 2),
        interval=Interval.H1,
        status=FileStatus.QUARANTINED,
    )
    b.put(
        "klines",
        "BTCUSD_PERP",
        bars(T0, 24, Interval.H1),
        D(2024, 1, 1),
        D(2024, 1, 1),
        market=Market.CM,
        interval=Interval.H1,
    )
    b.put("fundingRate", "BTCUSDT", funding(T0, 93), D(2024, 1, 1), D(2024, 1, 31))
    b.commit()
    return tmp_path


def test_sql_views_have_partition_columns(lake: Path) -> None:
    t = sql(lake, "SELECT market, symbol, count(*) AS n FROM klines GROUP BY ALL ORDER BY market, symbol")
    assert t.to_pylist() == [
        {"market": "cm", "symbol": "BTCUSD_PERP", "n": 24},
        {"market": "um", "symbol": "BTCUSDT", "n": 48},
        {"market": "um", "symbol": "ETHUSDT", "n": 24},
    ]
    assert sql(lake, "SELECT count(*) AS n FROM fundingrate").column("n").to_pylist() == [93]
    assert sql(lake, "SELECT count(*) AS n FROM lake.file_state").column("n").to_pylist() == [6]


@pytest.mark.parametrize(
    ("query", "message"), [("SELEC 1", "syntax error"), ("SELECT * FROM trades", "trades"), ("  ", "empty")]
)
def test_bad_sql_is_one_sentence(lake: Path, query: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        sql(lake, query)
    assert "\n" not in str(info.value)


def test_status_counts_days_problems_and_bytes(lake: Path) -> None:
    rows = {(r["market"], r["dataset"], r["symbol"]): r for r in status(lake).to_pylist()}
    eth = rows[("um", "klines", "ETHUSDT")]
    assert (eth["days_held"], eth["files_ingested"], eth["files_quarantined"]) == (1, 1, 1)
    btc = rows[("um", "klines", "BTCUSDT")]
    assert (btc["days_held"], btc["first_day"], btc["last_day"]) == (2, D(2024, 1, 1), D(2024, 1, 2))
    assert btc["bytes"] > 0 and btc["partitions"] == 1
    assert rows[("um", "fundingRate", "BTCUSDT")]["days_held"] == 31
    listed = problems(lake).to_pylist()
    assert [(p["status"], p["symbol"], p["first_day"]) for p in listed] == [
        ("quarantined", "ETHUSDT", D(2024, 1, 2))
    ]


def test_status_of_an_empty_lake(tmp_path: Path) -> None:
    assert status(tmp_path).num_rows == 0
    assert problems(tmp_path).num_rows == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "/etc/passwd"),
        ("SELECT * FROM read_text('{root}/tables/../../../../etc/passwd')", "passwd"),
        ("SELECT * FROM glob('/etc/*')", "/etc"),
        ("COPY (SELECT 1) TO '{root}/tables/x.csv'", "COPY"),
        ("ATTACH '{root}/tables/new.duckdb' AS w", "ATTACH"),
        ("SET enable_external_access = true", "SET"),
        ("LOAD '/nonexistent/x.duckdb_extension'", "LOAD"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("SELECT 1; COPY (SELECT 1) TO '{root}/tables/y.csv'", "COPY"),
    ],
)
def test_sql_reads_only_the_lake(lake: Path, query: str, message: str) -> None:
    before = sorted(lake.rglob("*"))
    with pytest.raises(UsageError, match=message) as info:
        sql(lake, query.format(root=lake))
    assert "\n" not in str(info.value) and "unsafe" in str(info.value)
    assert sorted(lake.rglob("*")) == before


def test_sql_still_reads_every_file_of_the_lake(lake: Path) -> None:
    pattern = f"{lake}/tables/klines/market=um/**/*.parquet"
    t = sql(lake, f"SELECT count(*) AS n FROM read_parquet('{pattern}', hive_partitioning = true)")
    assert t.column("n").to_pylist() == [72]
    assert sql(lake, "DESCRIBE klines").num_rows > 0
    assert sql(lake, "EXPLAIN SELECT * FROM klines").num_rows > 0


def test_unsafe_sql_runs_anything(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("out") / "n.csv"
    sql(lake, f"COPY (SELECT count(*) AS n FROM klines) TO '{out}'", unsafe=True)
    assert out.read_text().splitlines() == ["n", "96"]
    passwd = sql(lake, "SELECT count(*) AS n FROM read_text('/etc/passwd')", unsafe=True)
    assert passwd.column("n").to_pylist() == [1]
