"""load_aligned: nothing from the future (property test over the join), index by pair, gaps, bad input."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import MissingDataWarning, UsageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.aligned import METRIC_COLUMNS, align, load_aligned, pair_of
from tests.load.lakes import LakeBuilder, bars, funding, metrics

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
FIVE = dt.timedelta(minutes=5)


def with_symbol(table: pa.Table, symbol: str) -> pa.Table:
    return table.add_column(0, "symbol", pa.array([symbol] * table.num_rows, pa.string()))


def prices(symbols: list[str], count: int, interval: Interval) -> dict[str, pa.Table]:
    out = {}
    for n, name in enumerate(("markPriceKlines", "indexPriceKlines", "premiumIndexKlines")):
        t = pa.concat_tables(
            [with_symbol(bars(T0, count, interval, seed=n + 10 * i), s) for i, s in enumerate(symbols)]
        )
        out[name] = t.select(["symbol", "open_time", "close"])
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, pa.Table]:
    interval = draw(st.sampled_from([Interval.M5, Interval.M15, Interval.H1, Interval.H4]))
    count = draw(st.integers(1, 60))
    symbols = draw(st.lists(st.sampled_from(["AAAUSDT", "BBBUSDT"]), min_size=1, max_size=2, unique=True))
    horizon = int((interval.duration * count).total_seconds() * 1000)
    k_parts, f_parts, m_parts = [], [], []
    for i, s in enumerate(symbols):
        k_parts.append(with_symbol(bars(T0, count, interval, seed=i), s))
        # Funding rows at arbitrary ms (including exactly on a bar's close_time), metrics on the 5-minute grid.
        f_ms = sorted(set(draw(st.lists(st.integers(-86_400_000, horizon + 3_600_000), max_size=12))))
        schema = get_dataset("fundingRate").schema(Market.UM)
        f_parts.append(
            with_symbol(
                pa.Table.from_pydict(
                    {
                        "calc_time": [T0 + dt.timedelta(milliseconds=m) for m in f_ms],
                        "funding_interval_hours": [8] * len(f_ms),
                        "last_funding_rate": [float(m) for m in f_ms],
                    },
                    schema=schema,
                ),
                s,
            )
        )
        slots = sorted(set(draw(st.lists(st.integers(-12, horizon // 300_000 + 12), max_size=30))))
        met = metrics(T0, 1).slice(0, 0)
        rows = metrics(T0 + FIVE * min(slots, default=0), 1)
        tables = [met]
        for slot in slots:
            tables.append(
                rows.set_column(0, "create_time", pa.array([T0 + FIVE * slot], rows.schema.field(0).type))
            )
        m_parts.append(with_symbol(pa.concat_tables(tables), s))
    return pa.concat_tables(k_parts), pa.concat_tables(f_parts), pa.concat_tables(m_parts)


@settings(max_examples=40, deadline=None)
@given(scenario())
def test_aligned_rows_never_use_a_future_funding_rate_or_metric(
    case: tuple[pa.Table, pa.Table, pa.Table],
) -> None:
    klines, fund, met = case
    symbols = sorted(set(klines.column("symbol").to_pylist()))
    count = klines.num_rows // len(symbols)
    interval_s = (
        klines.column("close_time")[0].as_py() - klines.column("open_time")[0].as_py()
    ).total_seconds()
    interval = next(
        i for i in Interval if not i.is_calendar and abs(i.duration.total_seconds() - interval_s) < 1
    )
    out = align(klines, prices(symbols, count, interval), fund, met, {s: s for s in symbols})
    assert out.num_rows == klines.num_rows
    funding_rows = fund.to_pylist()
    metric_rows = met.to_pylist()
    for row in out.to_pylist():
        usable = [
            f for f in funding_rows if f["symbol"] == row["symbol"] and f["calc_time"] <= row["close_time"]
        ]
        last = max(usable, key=lambda f: f["calc_time"], default=None)
        assert row["funding_time"] == (last["calc_time"] if last else None)
        assert row["funding_rate"] == (last["last_funding_rate"] if last else None)
        known = [
            m
            for m in metric_rows
            if m["symbol"] == row["symbol"] and m["create_time"] + FIVE <= row["close_time"]
        ]
        newest = max(known, key=lambda m: m["create_time"], default=None)
        assert row["metrics_time"] == (newest["create_time"] if newest else None)
        for column in METRIC_COLUMNS:
            assert row[column] == (newest[column] if newest else None)


def test_pairs_follow_binance_naming() -> None:
    assert [pair_of(s) for s in ("BTCUSDT", "BTCUSDT_230929", "BTCUSD_PERP", "ETHUSD_240628")] == [
        "BTCUSDT",
        "BTCUSDT",
        "BTCUSD",
        "ETHUSD",
    ]


@pytest.fixture
def cm_lake(tmp_path: Path) -> Path:
    b = LakeBuilder(tmp_path)
    first, last = dt.date(2024, 1, 1), dt.date(2024, 1, 3)
    for symbol in ("BTCUSD_PERP", "BTCUSD_240329"):
        b.put(
            "klines",
            symbol,
            bars(T0, 72, Interval.H1, seed=1),
            first,
            last,
            market=Market.CM,
            interval=Interval.H1,
        )
        b.put(
            "markPriceKlines",
            symbol,
            bars(T0, 72, Interval.H1, seed=2),
            first,
            last,
            market=Market.CM,
            interval=Interval.H1,
        )
        b.put(
            "premiumIndexKlines",
            symbol,
            bars(T0, 72, Interval.H1, seed=3),
            first,
            last,
            market=Market.CM,
            interval=Interval.H1,
        )
    b.put(
        "indexPriceKlines",
        "BTCUSD",
        bars(T0, 72, Interval.H1, seed=4),
        first,
        last,
        market=Market.CM,
        interval=Interval.H1,
    )
    # Only the perpetual pays funding; metrics exist for the perpetual from 2024-01-02 on.
    b.put(
        "fundingRate",
        "BTCUSD_PERP",
        funding(T0 - dt.timedelta(hours=4), 12),
        dt.date(2023, 12, 1),
        dt.date(2024, 1, 31),
        market=Market.CM,
    )
    b.put("metrics", "BTCUSD_PERP", metrics(T0, 288 * 3), dt.date(2024, 1, 2), last, market=Market.CM)
    b.announce("metrics", "BTCUSD_PERP", first, first, market=Market.CM)
    b.commit()
    return tmp_path


def test_cm_lake_index_by_pair_funding_in_force_and_metric_gaps(cm_lake: Path) -> None:
    loaded = load_aligned(cm_lake, "BTCUSD_PERP,BTCUSD_240329", "2024-01-01", "2024-01-03", market="cm")
    rows = loaded.table.to_pylist()
    assert len(rows) == 144
    assert all(r["index_close"] is not None and r["mark_close"] is not None for r in rows)
    perp = [r for r in rows if r["symbol"] == "BTCUSD_PERP"]
    delivery = [r for r in rows if r["symbol"] == "BTCUSD_240329"]
    assert [r["index_close"] for r in perp] == [r["index_close"] for r in delivery]
    # The funding row of 2023-12-31 20:00 (read from before the range) is in force until 04:00.
    assert [r["funding_time"].replace(microsecond=0).hour for r in perp[:6]] == [20, 20, 20, 20, 4, 4]
    assert all(r["funding_rate"] is None for r in delivery)
    assert all(r["metrics_time"] is None for r in perp[:24])
    # The bar 2024-01-02 00:00-00:59:59.999 sees the 00:50 row (known 00:55), not the 00:55 one (known 01:00).
    assert perp[24]["metrics_time"] == dt.datetime(2024, 1, 2, 0, 50, tzinfo=UTC)
    assert perp[25]["metrics_time"] == dt.datetime(2024, 1, 2, 1, 50, tzinfo=UTC)
    # The catalog has the 2024-01-01 metrics file, the lake does not; the delivery contract (no funding and
    # no metrics upstream as far as the catalog knows) is not reported missing.
    assert [(g.dataset, g.symbol, str(g.first_day)) for g in loaded.missing.gaps] == [
        ("metrics", "BTCUSD_PERP", "2024-01-01")
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"market": "spot"}, "needs a futures market"),
        ({"market": "xx"}, "unknown market 'xx'"),
        ({"interval": "7m"}, "unknown interval '7m'"),
        ({"interval": "1s"}, "interval 1s does not exist in market cm"),
    ],
)
def test_bad_input(cm_lake: Path, kwargs: dict[str, str], message: str) -> None:
    args = {"market": "cm", **kwargs}
    with pytest.raises(UsageError, match=message):
        load_aligned(cm_lake, "BTCUSD_PERP", "2024-01-01", "2024-01-02", **args)  # type: ignore[arg-type]


def test_missing_klines_is_a_usage_error(cm_lake: Path) -> None:
    with pytest.raises(UsageError, match="holds no klines 1h data for ETHUSD_PERP"):
        load_aligned(cm_lake, "ETHUSD_PERP", "2024-01-01", "2024-01-02", market="cm")


def test_a_dataset_never_synced_warns_and_is_listed_in_missing(tmp_path: Path) -> None:
    b = LakeBuilder(tmp_path)
    first, last = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    b.put("klines", "BTCUSDT", bars(T0, 48, Interval.H1), first, last, interval=Interval.H1)
    b.put("fundingRate", "BTCUSDT", funding(T0, 6), first, last)
    # The archive has mark-price klines and metrics for these days, the lake none; index and premium-index
    # klines are not published for them (the catalog lists the market completely): no news, no warning.
    b.announce("markPriceKlines", "BTCUSDT", first, last, interval=Interval.H1)
    b.announce("metrics", "BTCUSDT", first, last)
    b.commit()
    with pytest.warns(MissingDataWarning) as caught:
        loaded = load_aligned(tmp_path, "BTCUSDT", "2024-01-01", "2024-01-02")
    (warning,) = caught
    text = str(warning.message)
    assert "holds no markPriceKlines, metrics data for BTCUSDT in market um" in text
    assert "binance-lake sync --market um --datasets markPriceKlines,metrics --intervals 1h" in text
    assert "fill=True" in text and "fundingRate" not in text
    assert all(r["mark_close"] is None for r in loaded.table.to_pylist())
    assert {g.dataset for g in loaded.missing.gaps} == {"markPriceKlines", "metrics"}
    assert loaded.missing.days("BTCUSDT", "metrics") == [first, last]


def test_a_dataset_held_for_some_symbols_only_does_not_warn(cm_lake: Path) -> None:
    # The delivery contract has no funding, the perpetual has: a gap in `missing`, not a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingDataWarning)
        loaded = load_aligned(cm_lake, "BTCUSD_PERP,BTCUSD_240329", "2024-01-01", "2024-01-03", market="cm")
    assert all(r["funding_rate"] is None for r in loaded.table.to_pylist() if r["symbol"] == "BTCUSD_240329")
