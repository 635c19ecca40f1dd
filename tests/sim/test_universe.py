"""The synthetic universe: symbols and statuses, the clock, and the ground truth of `day_table`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core import quirks
from binance_lake.core.datasets import DATASETS, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.universe import DEFAULT_NOW, SimClock, Universe

UNIVERSE = Universe.build("small")
DAYS = st.dates(min_value=dt.date(2022, 1, 1), max_value=dt.date(2026, 11, 19))


def test_small_universe_holds_the_symbol_quirks() -> None:
    um = {s.symbol: s for s in UNIVERSE.symbols(Market.UM)}
    assert {
        "BTCUSDT",
        "BTCUSDT_230929",
        "1000SHIBUSDT",
        "1000000BOBUSDT",
        "CVCUSDT",
        "CVCUSDTSETTLED",
    } <= set(um)
    assert um["BTCUSDT_230929"].status(DEFAULT_NOW) == "DELIVERED"
    assert um["BTCUSDT_230929"].delivery_ms == int(dt.datetime(2023, 9, 29, 8, tzinfo=UTC).timestamp() * 1000)
    assert (
        um["BTCUSDT"].delivery_ms == quirks.PERPETUAL_DELIVERY_MS
        and um["BTCUSDT"].status(DEFAULT_NOW) == "TRADING"
    )
    assert um["XEMUSDT"].status(DEFAULT_NOW) == "CLOSE" and um["CVCUSDTSETTLED"].settled
    cm = {s.symbol: s for s in UNIVERSE.symbols(Market.CM)}
    assert cm["BTCUSD_PERP"].contract_size == 100 and cm["ETHUSD_PERP"].contract_size == 10
    assert cm["BTCUSD_PERP"].pair == "BTCUSD" and cm["BTCUSD_PERP"].margin_asset == "BTC"
    usdc = UNIVERSE.symbol(Market.SPOT, "BTCUSDC")
    assert (
        usdc is not None and not usdc.active_on(dt.date(2022, 12, 1)) and usdc.active_on(dt.date(2023, 3, 1))
    )
    assert {s.symbol for s in UNIVERSE.symbols(Market.OPTION)} == {
        "BTCBVOLUSDT",
        "ETHBVOLUSDT",
        "BTCUSDT",
        "ETHUSDT",
    }
    assert 25 <= len(UNIVERSE.roster) <= 60


def test_sizes_and_toml(tmp_path: Path) -> None:
    assert len(Universe.build("medium").symbols(Market.UM)) >= 180
    large = Universe.build("large")
    assert len(large.symbols(Market.UM)) > 1000 and large.planned_sizes
    path = tmp_path / "u.toml"
    path.write_text(
        '[[symbols]]\nmarket = "um"\nsymbol = "FOOUSDT"\nlisted = "2024-01-01"\nintervals = ["1h"]\n'
    )
    custom = Universe.build(str(path))
    assert [s.symbol for s in custom.symbols(Market.UM)] == ["FOOUSDT"]
    assert custom.day_table(Market.UM, "klines", "FOOUSDT", Interval.H1, dt.date(2024, 1, 2)).num_rows == 24
    with pytest.raises(UsageError):
        Universe.build("huge")


def test_clock() -> None:
    clock = SimClock()
    assert clock.now() == DEFAULT_NOW
    clock.advance(dt.timedelta(hours=1))
    assert clock.now() == DEFAULT_NOW + dt.timedelta(hours=1)
    clock.set(dt.datetime(2025, 1, 1))
    assert clock.now().tzinfo is not None


def test_every_dataset_has_the_registry_schema() -> None:
    samples = {
        "klines": (Market.SPOT, "BTCUSDT"), "markPriceKlines": (Market.UM, "BTCUSDT"),
        "indexPriceKlines": (Market.CM, "BTCUSD"), "premiumIndexKlines": (Market.UM, "ETHUSDT"),
        "fundingRate": (Market.CM, "BTCUSD_PERP"), "metrics": (Market.UM, "BTCUSDT"),
        "aggTrades": (Market.CM, "BTCUSD_PERP"), "trades": (Market.SPOT, "BTCUSDT"),
        "bookTicker": (Market.UM, "BTCUSDT"), "bookDepth": (Market.CM, "ETHUSD_PERP"),
        "liquidationSnapshot": (Market.CM, "BTCUSD_PERP"), "BVOLIndex": (Market.OPTION, "BTCBVOLUSDT"),
        "EOHSummary": (Market.OPTION, "ETHUSDT"),
    }  # fmt: skip
    assert set(samples) == {name for name, spec in DATASETS.items() if spec.in_archive}
    for name, (market, symbol) in samples.items():
        spec = get_dataset(name)
        interval = Interval.H1 if spec.has_interval else None
        table = UNIVERSE.day_table(market, name, symbol, interval, dt.date(2023, 7, 10))
        assert table.schema == spec.schema(market), name
        assert table.num_rows > 0, name
        times = table.column(spec.time_column).to_pylist()
        assert times == sorted(times), name
        empty = UNIVERSE.day_table(market, name, symbol, interval, dt.date(2015, 1, 1))
        assert empty.num_rows == 0 and empty.schema == spec.schema(market)


@settings(max_examples=25, deadline=None)
@given(day=DAYS, interval=st.sampled_from([Interval.M1, Interval.M5, Interval.H1, Interval.D1]))
def test_klines_are_consistent(day: dt.date, interval: Interval) -> None:
    table = UNIVERSE.day_table(Market.UM, "klines", "ETHUSDT", interval, day)
    low, high = table.column("low"), table.column("high")
    for name in ("open", "close"):
        assert pc.all(pc.less_equal(low, table.column(name))).as_py()
        assert pc.all(pc.less_equal(table.column(name), high)).as_py()
    assert pc.all(pc.less_equal(table.column("taker_buy_volume"), table.column("volume"))).as_py()
    opens = table.column("open_time").to_pylist()
    assert len(opens) == len(set(opens))


@settings(max_examples=15, deadline=None)
@given(day=DAYS)
def test_hours_aggregate_the_minutes(day: dt.date) -> None:
    minutes = UNIVERSE.day_table(Market.UM, "klines", "BTCUSDT", Interval.M1, day).to_pylist()
    hours = UNIVERSE.day_table(Market.UM, "klines", "BTCUSDT", Interval.H1, day).to_pylist()
    first = hours[0]
    inside = [m for m in minutes if first["open_time"] <= m["open_time"] < first["close_time"]]
    assert first["open"] == inside[0]["open"] and first["close"] == inside[-1]["close"]
    assert first["high"] == max(m["high"] for m in inside) and first["count"] == sum(
        m["count"] for m in inside
    )
    mark = UNIVERSE.day_table(Market.UM, "markPriceKlines", "BTCUSDT", Interval.H1, day).to_pylist()[0]
    assert abs(mark["close"] / first["close"] - 1) < 0.01


def test_day_table_is_deterministic_and_seeded() -> None:
    day = dt.date(2024, 5, 5)
    other = Universe.build("small", seed=8)
    again = Universe.build("small", seed=7)
    table = UNIVERSE.day_table(Market.UM, "aggTrades", "BTCUSDT", None, day)
    assert again.day_table(Market.UM, "aggTrades", "BTCUSDT", None, day).equals(table)
    assert not other.day_table(Market.UM, "aggTrades", "BTCUSDT", None, day).equals(table)


def test_trades_and_aggtrades_agree() -> None:
    day = dt.date(2024, 5, 5)
    agg = UNIVERSE.day_table(Market.UM, "aggTrades", "BTCUSDT", None, day).to_pylist()
    trades = {t["id"]: t for t in UNIVERSE.day_table(Market.UM, "trades", "BTCUSDT", None, day).to_pylist()}
    ids = [a["agg_trade_id"] for a in agg]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    for row in agg[:200]:
        members = [trades[i] for i in range(row["first_trade_id"], row["last_trade_id"] + 1)]
        assert all(m["price"] == row["price"] and m["time"] == row["transact_time"] for m in members)
        assert abs(sum(m["qty"] for m in members) - row["quantity"]) < 1e-9


def test_funding_switches_to_four_hours_mid_month() -> None:
    before = UNIVERSE.day_table(Market.UM, "fundingRate", "1000XECUSDT", None, dt.date(2026, 7, 15))
    after = UNIVERSE.day_table(Market.UM, "fundingRate", "1000XECUSDT", None, dt.date(2026, 7, 16))
    assert before.num_rows == 3 and after.num_rows == 6
    assert set(after.column("funding_interval_hours").to_pylist()) == {4}
    for moment in after.column("calc_time").to_pylist():
        assert moment.minute == 0 and moment.second == 0 and moment.microsecond < 13_000


def test_first_day_starts_at_onboarding() -> None:
    first = UNIVERSE.day_table(Market.SPOT, "klines", "BTCUSDT", Interval.H1, dt.date(2017, 8, 17))
    assert first.num_rows == 20 and first.column("open_time")[0].as_py().hour == 4


def test_delivery_contract_stops_at_delivery() -> None:
    last = UNIVERSE.day_table(Market.UM, "klines", "BTCUSDT_230929", Interval.H1, dt.date(2023, 9, 29))
    assert last.num_rows == 8


def test_spot_microseconds_from_2025() -> None:
    old = UNIVERSE.day_table(Market.SPOT, "trades", "BTCUSDT", None, dt.date(2024, 12, 31))
    new = UNIVERSE.day_table(Market.SPOT, "trades", "BTCUSDT", None, dt.date(2025, 1, 1))
    assert all(t.microsecond % 1000 == 0 for t in old.column("time").to_pylist())
    assert any(t.microsecond % 1000 for t in new.column("time").to_pylist())
