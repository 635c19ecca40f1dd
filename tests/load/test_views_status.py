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
