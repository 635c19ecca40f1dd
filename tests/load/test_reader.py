"""Loading one dataset: range rule, sorting, symbol column, columns, missing days, absent symbols."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval
from binance_lake.load.missing import Gap
from binance_lake.load.reader import load_table
from binance_lake.load.request import build_request
from tests.load.lakes import LakeBuilder, bars

UTC = dt.UTC
JAN1 = dt.datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    b = LakeBuilder(tmp_path)
    b.put(
        "klines",
        "BTCUSDT",
        bars(JAN1, 24 * 60, Interval.H1, seed=1),
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 29),
        interval=Interval.H1,
    )
    # ETHUSDT: the lake holds January except 10..12; the archive has all of it.
    eth = bars(JAN1, 24 * 31, Interval.H1, seed=2)
    b.put("klines", "ETHUSDT", eth, dt.date(2024, 1, 1), dt.date(2024, 1, 9), interval=Interval.H1)
    b.announce("klines", "ETHUSDT", dt.date(2024, 1, 10), dt.date(2024, 1, 12), interval=Interval.H1)
    b.put("klines", "ETHUSDT", eth, dt.date(2024, 1, 13), dt.date(2024, 1, 31), interval=Interval.H1)
    b.commit()
    return tmp_path


def test_dates_are_whole_days_and_rows_sorted_by_symbol_then_time(lake: Path) -> None:
    request = build_request("klines", ["ethusdt", "BTCUSDT"], "2024-01-05", "2024-02-03", interval="1h")
    loaded = load_table(lake, request)
    t = loaded.table
    assert t.column_names[:2] == ["symbol", "open_time"]
    syms = t.column("symbol").to_pylist()
    assert syms == sorted(syms)
    btc = t.filter(pa.compute.equal(t.column("symbol"), "BTCUSDT")).column("open_time").to_pylist()
    assert btc[0] == dt.datetime(2024, 1, 5, tzinfo=UTC)
    assert btc[-1] == dt.datetime(2024, 2, 3, 23, tzinfo=UTC)
    assert len(btc) == 30 * 24 and btc == sorted(btc)


def test_timestamps_are_half_open(lake: Path) -> None:
    request = build_request("klines", "BTCUSDT", "2024-01-05T10:00", "2024-01-05T13:00", interval="1h")
    times = load_table(lake, request).table.column("open_time").to_pylist()
    assert [t.hour for t in times] == [10, 11, 12]


def test_missing_days_are_reported_not_warned(lake: Path) -> None:
    request = build_request("klines", "BTCUSDT,ETHUSDT", "2024-01-01", "2024-01-31", interval="1h")
    loaded = load_table(lake, request)
    assert loaded.missing.gaps == (
        Gap("klines", "ETHUSDT", dt.date(2024, 1, 10), dt.date(2024, 1, 12), "1h"),
    )
    days = {
        t.date()
        for s, t in zip(
            loaded.table.column("symbol").to_pylist(),
            loaded.table.column("open_time").to_pylist(),
            strict=True,
        )
        if s == "ETHUSDT"
    }
    assert not days & set(loaded.missing.days("ETHUSDT"))


def test_days_after_the_catalog_span_are_not_missing_but_unknown_symbols_are(lake: Path) -> None:
    # The catalog knows BTCUSDT until 2024-02-29, so March does not exist upstream: nothing is missing.
    request = build_request("klines", "BTCUSDT", "2024-02-20", "2024-03-10", interval="1h")
    assert not load_table(lake, request).missing


def test_columns_keep_time_and_symbol(lake: Path) -> None:
    request = build_request("klines", "BTCUSDT", "2024-01-01", "2024-01-01", interval="1h", columns=["close"])
    assert load_table(lake, request).table.column_names == ["symbol", "open_time", "close"]


def test_symbol_never_held_is_a_usage_error_naming_it_and_the_sync_command(lake: Path) -> None:
    request = build_request("klines", "BTCUSDT,XRPUSDT", "2024-01-01", "2024-01-02", interval="1h")
    with pytest.raises(
        UsageError, match=r"XRPUSDT.*binance-lake sync --market um --datasets klines --intervals 1h"
    ):
        load_table(lake, request)
    loaded = load_table(lake, request, require=False)
    assert loaded.absent == ("XRPUSDT",)
    assert set(loaded.table.column("symbol").to_pylist()) == {"BTCUSDT"}


def test_empty_lake(tmp_path: Path) -> None:
    request = build_request("klines", "BTCUSDT", "2024-01-01", "2024-01-02", interval="1h")
    with pytest.raises(UsageError, match="holds no klines 1h data for BTCUSDT"):
        load_table(tmp_path, request)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-01-05", "2024-02-03"), ("2024-01-31T22:30", "2024-02-01T01:00"), ("2024-01-01", "2024-03-31")],
)
def test_duckdb_and_arrow_paths_agree(
    lake: Path, monkeypatch: pytest.MonkeyPatch, start: str, end: str
) -> None:
    from binance_lake.load import reader

    request = build_request("klines", "ETHUSDT,BTCUSDT", start, end, interval="1h")
    small = load_table(lake, request).table
    monkeypatch.setattr(reader, "SMALL_READ_BYTES", 0)
    big = load_table(lake, request).table
    assert big.equals(small) and small.num_rows > 0
