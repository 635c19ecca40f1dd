"""core/symbols.py: ccxt names, symbol files and the one `--symbols` expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import expand_symbol_list, from_ccxt, read_symbol_file


@pytest.mark.parametrize(
    ("name", "market", "expected"),
    [
        ("BTC/USDT:USDT", None, ("BTCUSDT", "um")),
        ("BTC/USDT:USDT", "um", ("BTCUSDT", "um")),
        ("btc/usd:btc", "cm", ("BTCUSD_PERP", "cm")),
        ("BTC/USD:BTC-240329", None, ("BTCUSD_240329", "cm")),
        ("BTC/USDT:USDT-230929", "um", ("BTCUSDT_230929", "um")),
        ("SOL/USDT", None, ("SOLUSDT", "spot")),
        ("SOL/USDT", "spot", ("SOLUSDT", "spot")),
        ("SOL/USDT", "um", ("SOLUSDT", "um")),
        ("1000SHIB/USDT:USDT", "um", ("1000SHIBUSDT", "um")),
    ],
)
def test_ccxt_names_map_to_binance(name: str, market: str | None, expected: tuple[str, str]) -> None:
    assert from_ccxt(name, market) == expected


def test_ccxt_name_of_another_market_says_the_mapping() -> None:
    with pytest.raises(
        UsageError, match=r"BTC/USDT:USDT is BTCUSDT on um, not a spot symbol; use --market um"
    ):
        from_ccxt("BTC/USDT:USDT", "spot")
    with pytest.raises(UsageError, match=r"BTC/USD:BTC is BTCUSD_PERP on cm, not a um symbol"):
        from_ccxt("BTC/USD:BTC", "um")
    with pytest.raises(UsageError, match=r"BTC/USDT is BTCUSDT on spot, not a cm symbol"):
        from_ccxt("BTC/USDT", "cm")


@pytest.mark.parametrize("bad", ["BTC/", "/USDT", "BTC/USDT:", "BTC-USDT/X", "BTC/USDT:USDT-2309"])
def test_malformed_ccxt_names_are_one_sentence(bad: str) -> None:
    with pytest.raises(UsageError, match="ccxt name is BASE/QUOTE"):
        from_ccxt(bad)


def test_settle_in_neither_asset_is_refused() -> None:
    with pytest.raises(UsageError, match="Binance lists no such contract"):
        from_ccxt("BTC/USDT:ETH")


@given(
    base=st.from_regex(r"[A-Z][A-Z0-9]{1,8}", fullmatch=True),
    quote=st.sampled_from(["USDT", "USDC", "BUSD", "BTC"]),
)
def test_linear_swap_is_base_plus_quote(base: str, quote: str) -> None:
    assert from_ccxt(f"{base}/{quote}:{quote}") == (base + quote, "um")
    assert from_ccxt(f"{base}/{quote}") == (base + quote, "spot")


def test_symbol_file_uses_the_symbol_column_of_seed_reports(tmp_path: Path) -> None:
    # seed 001's spot_synchronal.csv: market first, the symbol second, intervals quoted
    report = tmp_path / "spot_synchronal.csv"
    report.write_text(
        "market,symbol,earliest_date,available_intervals,base_symbol\n"
        'spot,BTCUSDT,2017-08-17,"1s,1m,1h",BTC\n'
        'spot,ETHUSDT,2017-08-17,"1m,1h",ETH\n'
    )
    assert read_symbol_file(report) == ["BTCUSDT", "ETHUSDT"]


def test_symbol_file_first_column_header_tolerated(tmp_path: Path) -> None:
    plain = tmp_path / "list.txt"
    plain.write_text("ticker\nbtcusdt\n\n# dropped for now\nethusdt,ignored\nBTCUSDT\n")
    assert read_symbol_file(plain) == ["BTCUSDT", "ETHUSDT"]
    bare = tmp_path / "bare.csv"
    bare.write_text("SOLUSDT\nXRPUSDT\n")
    assert read_symbol_file(bare) == ["SOLUSDT", "XRPUSDT"]


def test_symbol_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read symbol file"):
        read_symbol_file(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("market,symbol\n")
    with pytest.raises(UsageError, match="names no symbols"):
        read_symbol_file(empty)
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol\nBTCUSDT\nBTC-USDT\n")
    with pytest.raises(UsageError, match=r"row 2: 'BTC-USDT' is not a symbol"):
        read_symbol_file(bad)


def test_expand_mixes_files_sets_ccxt_and_names(tmp_path: Path) -> None:
    shortlist = tmp_path / "s.csv"
    shortlist.write_text("symbol\nETHUSDT\nSOLUSDT\n")
    got = expand_symbol_list(
        f"btcusdt,@file:{shortlist},@majors,XRP/USDT:USDT", {"majors": ("BTCUSDT", "BNBUSDT")}, market="um"
    )
    assert got == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]
    with pytest.raises(UsageError, match="unknown symbol set @nope"):
        expand_symbol_list("@nope", {})


def test_errors_naming_a_mapped_symbol_say_the_mapping() -> None:
    from binance_lake.core.symbols import ccxt_named

    expected = r"^not in the um archive: FOOUSDT \(FOO/USDT:USDT is FOOUSDT on um\)$"
    with pytest.raises(UsageError, match=expected), ccxt_named("FOO/USDT:USDT,BTCUSDT", "um"):
        raise UsageError("not in the um archive: FOOUSDT")
    # an error about something else, or one that names the ccxt name itself, is left as it is
    unrelated = r"^start 2024-02-01 is after end 2024-01-01$"
    with pytest.raises(UsageError, match=unrelated), ccxt_named(["FOO/USDT:USDT"], "um"):
        raise UsageError("start 2024-02-01 is after end 2024-01-01")
    refused = (
        r"^BTC/USDT:USDT is BTCUSDT on um, not a spot symbol; use --market um or name the spot symbol itself$"
    )
    with pytest.raises(UsageError, match=refused), ccxt_named("BTC/USDT:USDT", "spot"):
        from_ccxt("BTC/USDT:USDT", "spot")
