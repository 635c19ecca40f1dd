"""The export request: every argument checked once, in the project's vocabulary, one sentence per problem."""

from __future__ import annotations

import datetime as dt

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.export.postgres.export import EARLIEST, build_export_request

DSN = "postgresql://me@localhost/db"


def test_defaults_are_everything_the_market_has() -> None:
    request = build_export_request(DSN)
    assert [t.name for t in request.tables] == [
        "ohlcv",
        "open_interest",
        "funding_rate",
        "liquidations",
        "long_short_ratio",
        "mark_price",
    ]
    assert request.range.first_day == EARLIEST and request.symbols is None and request.intervals is None
    assert [t.name for t in build_export_request(DSN, market="spot").tables] == ["ohlcv"]


def test_choices() -> None:
    request = build_export_request(
        DSN,
        datasets="metrics,klines",
        intervals="1h, 1M",
        symbols="btcusdt",
        start="2024-01-01",
        end="2024-01-31",
    )
    assert [t.name for t in request.tables] == ["ohlcv", "open_interest", "long_short_ratio"]
    assert request.intervals == ("1h", "1mo") and request.symbols == ("BTCUSDT",)
    assert request.range.start == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert request.range.end == dt.datetime(2024, 2, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"dsn": " "}, "--dsn"),
        ({"timescale": "yes"}, "--timescale"),
        ({"schema": "a;b"}, "--schema"),
        ({"market": "xx"}, "--market"),
        ({"datasets": "aggTrades"}, "cannot export aggTrades"),
        ({"datasets": "fundingRate", "market": "spot"}, "does not exist in market spot"),
        ({"intervals": "7m"}, "unknown interval"),
        ({"start": "2024-02-01", "end": "2024-01-01"}, "is after end"),
        ({"batch_rows": 0}, "batch_rows"),
    ],
)
def test_bad_arguments_are_one_sentence(arguments: dict[str, object], words: str) -> None:
    given = {"dsn": DSN, **arguments}
    with pytest.raises(UsageError, match=words):
        build_export_request(**given)  # type: ignore[arg-type]
