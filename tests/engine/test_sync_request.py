from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.plan import SyncMode
from binance_lake.engine.sync import SyncOptions
from binance_lake.engine.sync_request import build_sync_request
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer

D = dt.date


def test_user_input_becomes_a_validated_request() -> None:
    settings = Settings(symbol_sets={"top": ("BTCUSDT", "ETHUSDT")})
    request = build_sync_request(
        settings,
        market="UM",
        datasets="klines,fundingRate",
        symbols="@top,solusdt",
        intervals=["1h", "1d"],
        start="2024-01-01",
        end=dt.datetime(2024, 1, 3, 12),
    )
    assert (request.market, request.datasets) == (Market.UM, ("klines", "fundingRate"))
    assert request.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert request.intervals == (Interval.H1, Interval.D1)
    assert (request.first_day, request.last_day) == (D(2024, 1, 1), D(2024, 1, 3))


def test_no_symbols_is_everything_and_no_end_is_today() -> None:
    request = build_sync_request(
        Settings(),
        market="um",
        datasets="fundingRate",
        symbols=None,
        intervals=None,
        start="2024-01-01",
        end=None,
    )
    assert request.symbols == () and request.last_day == dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"symbols": []}, "no symbols given"),
        ({"datasets": ""}, "choose at least one dataset"),
        ({"intervals": None}, "needs --intervals"),
        ({"start": "2024-01-05"}, "is after end"),
        ({"intervals": "1h,1s"}, "interval 1s does not exist in market um"),
    ],
)
def test_bad_input_is_one_usage_error(changes: dict[str, object], message: str) -> None:
    given: dict[str, object] = {
        "market": "um",
        "datasets": "klines",
        "symbols": "BTCUSDT",
        "intervals": "1h",
        "start": "2024-01-01",
        "end": "2024-01-02",
    }
    with pytest.raises(UsageError, match=message):
        build_sync_request(Settings(), **{**given, **changes})  # type: ignore[arg-type]


def test_the_options_defaults_are_the_api_defaults() -> None:
    """`Lake.sync` builds `SyncOptions` from its keywords: the two must not drift apart."""
    parameters = inspect.signature(Lake.sync).parameters
    for option in dataclasses.fields(SyncOptions):
        if option.name == "mode":  # `rebuild=` and `from_scratch=` choose it
            defaults = {flag: parameters[flag].default for flag in ("rebuild", "from_scratch")}
            assert SyncMode.of(**defaults) is option.default
            continue
        if option.name == "reconcile":  # not the user's: `update` turns it off for the syncs it runs
            assert option.default is True and "reconcile" not in parameters
            continue
        assert parameters[option.name].default == option.default, option.name


def test_ccxt_names_are_mapped_for_the_market_and_mismatches_say_the_mapping() -> None:
    def chosen(market: str, symbols: str) -> tuple[str, ...]:
        return build_sync_request(
            Settings(),
            market=market,
            datasets="klines",
            symbols=symbols,
            intervals="1h",
            start="2024-01-01",
            end=None,
        ).symbols

    assert chosen("um", "BTC/USDT:USDT,SOL/USDT") == ("BTCUSDT", "SOLUSDT")
    assert chosen("cm", "BTC/USD:BTC") == ("BTCUSD_PERP",)
    assert chosen("spot", "SOL/USDT") == ("SOLUSDT",)
    with pytest.raises(
        UsageError, match="BTC/USDT:USDT is BTCUSDT on um, not a spot symbol; use --market um"
    ):
        chosen("spot", "BTC/USDT:USDT")


def test_lake_sync_names_the_ccxt_name_of_an_unknown_symbol(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    with pytest.raises(
        UsageError, match=r"not in the um archive: NOPEUSDT .*\(NOPE/USDT:USDT is NOPEUSDT on um\)"
    ):
        lake.sync(
            market="um", datasets="klines", intervals="1d", symbols=iter(["NOPE/USDT:USDT"]), start="2024-01-01",
            end="2024-01-02",
        )  # fmt: skip
