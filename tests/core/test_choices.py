from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.choices import NO_SYMBOLS, as_day, as_list, chosen_symbols
from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings

NAME = st.text(alphabet="abcXYZ019_", min_size=1, max_size=8)


@given(st.lists(NAME, max_size=6))
def test_a_comma_separated_string_names_what_the_list_names(names: list[str]) -> None:
    assert as_list(",".join(names)) == names
    assert as_list(" , ".join(names)) == names
    assert as_list(names) == names and as_list(tuple(names)) == names


def test_none_is_no_names_and_blanks_are_dropped() -> None:
    assert as_list(None) == []
    assert as_list(" ,, ") == []


def test_symbols_none_is_every_symbol_and_sets_expand() -> None:
    settings = Settings(symbol_sets={"top": ("BTCUSDT", "ETHUSDT")})
    assert chosen_symbols(settings, None) is None
    assert chosen_symbols(settings, "@top,solusdt,BTCUSDT") == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert chosen_symbols(settings, ["ethusdt"]) == ("ETHUSDT",)


@pytest.mark.parametrize("empty", [[], ",,", " ", ()])
def test_an_explicitly_empty_symbol_list_is_refused(empty: str | list[str]) -> None:
    with pytest.raises(UsageError, match="no symbols given"):
        chosen_symbols(Settings(), empty)
    assert "--all" in NO_SYMBOLS


def test_a_day_from_a_date_a_datetime_or_text() -> None:
    day = dt.date(2024, 1, 15)
    assert as_day(day) == as_day(dt.datetime(2024, 1, 15, 23, 59)) == as_day("2024-01-15") == day


def test_replace_top_ranks_only_when_asked() -> None:
    from binance_lake.core.choices import has_top, replace_top
    from binance_lake.core.errors import UsageError

    asked: list[int] = []

    def ranked(n: int) -> list[str]:
        asked.append(n)
        return [f"S{i}USDT" for i in range(n)]

    assert replace_top("BTCUSDT,ETHUSDT", ranked) == "BTCUSDT,ETHUSDT" and asked == []
    assert replace_top(None, ranked) is None and not has_top(None)
    assert replace_top(["@top:2", "XRPUSDT"], ranked) == ["S0USDT", "S1USDT", "XRPUSDT"] and asked == [2]
    assert has_top(" @top:3 ,BTCUSDT")
    for bad in ("@top:0", "@top:x", "@top:"):
        with pytest.raises(UsageError, match="positive number"):
            replace_top(bad, ranked)
