"""load_universe: delisted symbols only while listed, catalog symbols missing from the lake reported, and a
volume filter that never looks ahead."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Interval
from binance_lake.load.universe import load_universe
from tests.load.lakes import LakeBuilder, bars

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
D = dt.date


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    b = LakeBuilder(tmp_path)
    b.put(
        "klines",
        "BTCUSDT",
        bars(T0, 31 * 24, Interval.H1),
        D(2024, 1, 1),
        D(2024, 1, 31),
        interval=Interval.H1,
    )
    # DEADUSDT was delisted after 2024-01-10: the archive stops there, though the lake got rows past it.
    b.announce("klines", "DEADUSDT", D(2023, 12, 1), D(2024, 1, 10), interval=Interval.H1)
    b.put(
        "klines",
        "DEADUSDT",
        bars(T0, 20 * 24, Interval.H1, seed=5),
        D(2024, 1, 1),
        D(2024, 1, 20),
        interval=Interval.H1,
        upstream=False,
    )
    # NEWUSDT listed on 2024-01-25 and the lake does not have it yet; LATEUSDT lists in February.
    b.announce("klines", "NEWUSDT", D(2024, 1, 25), D(2024, 2, 28), interval=Interval.H1)
    b.announce("klines", "LATEUSDT", D(2024, 2, 1), D(2024, 2, 28), interval=Interval.H1)
    b.commit()
    return tmp_path


def test_delisted_symbols_only_while_listed(lake: Path) -> None:
    loaded = load_universe(lake, "2024-01-01", "2024-01-31")
    t = loaded.table
    by_symbol: dict[str, list[dt.datetime]] = defaultdict(list)
    for s, ts in zip(t.column("symbol").to_pylist(), t.column("open_time").to_pylist(), strict=True):
        by_symbol[s].append(ts)
    assert set(by_symbol) == {"BTCUSDT", "DEADUSDT"}
    assert max(by_symbol["DEADUSDT"]).date() == D(2024, 1, 10)
    assert len(by_symbol["BTCUSDT"]) == 31 * 24
    assert loaded.absent == ("NEWUSDT",)
    assert [(g.symbol, g.first_day, g.last_day) for g in loaded.missing.gaps] == [
        ("NEWUSDT", D(2024, 1, 25), D(2024, 1, 31))
    ]


def test_a_held_symbol_the_catalog_never_listed_is_a_member(tmp_path: Path) -> None:
    # A lake whose catalog lists nothing of the series (e.g. built by hand, or listed before another market) still
    # answers with what it holds; this regressed once, found by bench/load.py's universe case.
    b = LakeBuilder(tmp_path)
    b.put(
        "klines",
        "ONLYUSDT",
        bars(T0, 31 * 24, Interval.H1, seed=3),
        D(2024, 1, 1),
        D(2024, 1, 31),
        interval=Interval.H1,
        upstream=False,
    )
    b.commit()
    loaded = load_universe(tmp_path, "2024-01-01", "2024-01-31")
    assert set(loaded.table.column("symbol").to_pylist()) == {"ONLYUSDT"}
    assert loaded.table.num_rows == 31 * 24


def test_empty_catalog_and_lake_is_a_usage_error(tmp_path: Path) -> None:
    LakeBuilder(tmp_path).commit()
    with pytest.raises(UsageError, match="--all --start 2024-01-01"):
        load_universe(tmp_path, "2024-01-01", "2024-01-31")


def test_nothing_held_is_a_usage_error(lake: Path) -> None:
    with pytest.raises(UsageError, match="holds none of the 2 klines 1h symbols"):
        load_universe(lake, "2024-02-01", "2024-02-10")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"dataset": "fundingRate", "interval": None, "min_quote_volume": 1.0},
            "needs bars with quote_volume",
        ),
        ({"min_quote_volume": -1.0}, "non-negative"),
        ({"interval": None}, "klines needs an interval"),
        ({"market": "moon"}, "unknown market"),
        ({"dataset": "candles"}, "unknown dataset 'candles'"),
    ],
)
def test_bad_input(lake: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_universe(lake, "2024-01-01", "2024-01-31", **kwargs)  # type: ignore[arg-type]


def test_bad_dates(lake: Path) -> None:
    with pytest.raises(UsageError, match="after end"):
        load_universe(lake, "2024-02-01", "2024-01-31")
    with pytest.raises(UsageError, match="malformed date"):
        load_universe(lake, "2024-13-01", "2024-12-31")


def daily_lake(root: Path, volumes: dict[str, list[float]]) -> None:
    b = LakeBuilder(root)
    for i, (symbol, values) in enumerate(volumes.items()):
        table = bars(T0, len(values), Interval.D1, seed=i)
        table = table.set_column(7, "quote_volume", pa.array(values, pa.float64()))
        last = (T0 + dt.timedelta(days=len(values) - 1)).date()
        b.put("klines", symbol, table, T0.date(), last, interval=Interval.D1)
    b.commit()


def members(root: Path, minimum: float, first: str, last: str) -> set[tuple[str, dt.date]]:
    t = load_universe(root, first, last, interval="1d", min_quote_volume=minimum).table
    return {
        (s, ts.date())
        for s, ts in zip(t.column("symbol").to_pylist(), t.column("open_time").to_pylist(), strict=True)
    }


@settings(max_examples=6, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["AAAUSDT", "BBBUSDT", "CCCUSDT"]),
        st.lists(st.sampled_from([0.0, 10.0, 100.0, 1000.0]), min_size=40, max_size=40),
        min_size=1,
        max_size=3,
    ),
    st.integers(31, 39),
    st.sampled_from([10.0, 100.0, 500.0]),
)
def test_volume_filter_uses_no_future_data(volumes: dict[str, list[float]], cut: int, minimum: float) -> None:
    with tempfile.TemporaryDirectory() as first_dir, tempfile.TemporaryDirectory() as second_dir:
        daily_lake(Path(first_dir), volumes)
        # The same lake, except every volume from day `cut` on is different.
        changed = {s: [*v[:cut], *(x * 7 + 1 for x in v[cut:])] for s, v in volumes.items()}
        daily_lake(Path(second_dir), changed)
        window = ("2024-01-31", "2024-02-09")
        before = members(Path(first_dir), minimum, *window)
        after = members(Path(second_dir), minimum, *window)
    cut_day = (T0 + dt.timedelta(days=cut)).date()
    assert {m for m in before if m[1] <= cut_day} == {m for m in after if m[1] <= cut_day}
    # And membership is exactly the trailing-30-day rule, computed the plain way.
    expected = set()
    for symbol, values in volumes.items():
        for day_index in range(30, 40):
            trailing = values[max(0, day_index - 30) : day_index]
            if trailing and sum(trailing) / len(trailing) >= minimum:
                expected.add((symbol, (T0 + dt.timedelta(days=day_index)).date()))
    assert before == expected
