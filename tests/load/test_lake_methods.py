"""The Lake's read methods: frame types carrying `missing`, fill=True calling sync, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Interval
from binance_lake.lake import Lake
from binance_lake.load import missing_of
from tests.load.lakes import LakeBuilder, bars

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
D = dt.date


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    b = LakeBuilder(tmp_path)
    b.put(
        "klines",
        "BTCUSDT",
        bars(T0, 3 * 1440, Interval.M1),
        D(2024, 1, 1),
        D(2024, 1, 3),
        interval=Interval.M1,
    )
    b.announce("klines", "BTCUSDT", D(2024, 1, 4), D(2024, 1, 5), interval=Interval.M1)
    b.commit()
    return Lake(settings=Settings(root=tmp_path))


@pytest.mark.parametrize("as_", ["pandas", "polars", "arrow"])
def test_every_frame_type_carries_missing(lake: Lake, as_: Any) -> None:
    frame = lake.load("klines", "BTCUSDT", "2024-01-02", "2024-01-05", interval="1m", as_=as_)
    missing = missing_of(frame)
    assert [(g.first_day, g.last_day) for g in missing.gaps] == [(D(2024, 1, 4), D(2024, 1, 5))]
    if as_ != "arrow":
        assert frame.attrs["missing"] == missing
    assert len(frame) == 2 * 1440


def test_resample_loads_1m_and_matches_direct_resampling(lake: Lake) -> None:
    hourly = lake.resample("BTCUSDT", "2024-01-01", "2024-01-03", interval="1h", as_="arrow")
    assert hourly.num_rows == 72 and hourly.column("symbol").to_pylist() == ["BTCUSDT"] * 72


def test_fill_syncs_the_missing_symbols_then_loads(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(lake, "sync", lambda **kwargs: calls.append(kwargs), raising=False)
    lake.load("klines", "BTCUSDT", "2024-01-02", "2024-01-05", interval="1m", fill=True)
    assert calls == [
        {
            "market": "um",
            "datasets": ["klines"],
            "symbols": ["BTCUSDT"],
            "intervals": ["1m"],
            "start": D(2024, 1, 2),
            "end": D(2024, 1, 5),
        }
    ]
    calls.clear()
    lake.load("klines", "BTCUSDT", "2024-01-01", "2024-01-03", interval="1m", fill=True)
    assert calls == []


def test_sql_status_problems(lake: Lake) -> None:
    # One default frame type for every reader: pandas, like `load`; Arrow on request.
    assert list(lake.sql("SELECT count(*) AS n FROM klines")["n"]) == [3 * 1440]
    assert lake.sql("SELECT count(*) AS n FROM klines", as_="arrow").column("n").to_pylist() == [3 * 1440]
    assert list(lake.status()["days_held"]) == [3]
    assert len(lake.problems()) == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda k: k.load("klines", "BTCUSDT", "2024-01-01"), "klines needs an interval; choose one of: 1m"),
        (lambda k: k.load("klinez", "BTCUSDT", "2024-01-01"), "unknown dataset"),
        (lambda k: k.load("klines", "BTC-USDT", "2024-01-01", interval="1m"), "invalid symbol"),
        (lambda k: k.load("klines", "BTCUSDT", "2024-01-05", "2024-01-01", interval="1m"), "after end"),
        (lambda k: k.load("klines", "BTCUSDT", "01/02/2024", interval="1m"), "malformed"),
        (lambda k: k.load("klines", [], "2024-01-01", interval="1m"), "no symbols"),
        (lambda k: k.load("fundingRate", "BTCUSDT", "2024-01-01", interval="1h"), "has no interval"),
        (
            lambda k: k.load("fundingRate", "BTCUSDT", "2024-01-01", market="spot"),
            "does not exist in market spot",
        ),
        (
            lambda k: k.load("klines", "BTCUSDT", "2024-01-01", interval="1m", columns=["vwap"]),
            "unknown column",
        ),
        (
            lambda k: k.load("klines", "BTCUSDT", "2024-01-01", interval="1m", as_="excel"),
            "unknown frame type",
        ),
        (lambda k: k.load("klines", "BTCUSDT", 20240101, interval="1m"), "must be a date"),
        (lambda k: k.resample("BTCUSDT", "2024-01-01", "2024-01-02", interval="30s"), "unknown interval"),
        (lambda k: k.sql("SELECT nope FROM klines"), "the query failed"),
        (lambda k: k.status(as_="csv"), "unknown frame type"),
    ],
)
def test_bad_input_is_a_usage_error(lake: Lake, call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call(lake)


def test_arrow_missing_survives_parquet(lake: Lake, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = lake.load("klines", "BTCUSDT", "2024-01-03", "2024-01-04", interval="1m", as_="arrow")
    pq.write_table(table, tmp_path / "out.parquet")
    assert missing_of(pq.read_table(tmp_path / "out.parquet")).days() == [D(2024, 1, 4)]
    assert isinstance(table, pa.Table)
