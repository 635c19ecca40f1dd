"""Archive keys: every real key quoted in reference/binance-formats.md parses to the right fields, and
key <-> URL <-> lake path round-trip over everything the registry allows."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.archive import (
    ArchiveFile,
    NotADatasetFile,
    ParsedKey,
    dataset_prefix,
    parse_key,
    parse_url,
)
from binance_lake.core.datasets import DATASETS
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import parse_partition_path, partitions_of
from binance_lake.core.vocabulary import Cadence, Interval, Market, has_daily_files, intervals_for

D = dt.date
UM, CM, SPOT, OPT = Market.UM, Market.CM, Market.SPOT, Market.OPTION
DAILY, MONTHLY = Cadence.DAILY, Cadence.MONTHLY

# (key, market, cadence, dataset, symbol, interval, period, is_checksum, canonical): quoted in the reference.
REAL_KEYS = [
    (
        "data/spot/monthly/klines/ADABKRW/1h/ADABKRW-1h-2020-08.zip",
        SPOT,
        MONTHLY,
        "klines",
        "ADABKRW",
        "1h",
        D(2020, 8, 1),
        False,
        True,
    ),
    (
        "data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip",
        SPOT,
        MONTHLY,
        "klines",
        "ADABKRW",
        "1d",
        D(2020, 8, 1),
        False,
        False,
    ),
    (
        "data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2023-09-25.zip",
        OPT,
        DAILY,
        "BVOLIndex",
        "BTCBVOLUSDT",
        None,
        D(2023, 9, 25),
        False,
        True,
    ),
    (
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2026-08-29.zip",
        UM,
        DAILY,
        "markPriceKlines",
        "BTCUSDT",
        "1m",
        D(2026, 8, 29),
        False,
        True,
    ),
    (
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-07.zip",
        UM,
        MONTHLY,
        "fundingRate",
        "BTCUSDT",
        None,
        D(2026, 7, 1),
        False,
        True,
    ),
    (
        "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2019-12-31.zip",
        UM,
        DAILY,
        "klines",
        "BTCUSDT",
        "1h",
        D(2019, 12, 31),
        False,
        True,
    ),
    (
        "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2019-12-31.zip.CHECKSUM",
        UM,
        DAILY,
        "klines",
        "BTCUSDT",
        "1h",
        D(2019, 12, 31),
        True,
        True,
    ),
    (
        "data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01.zip",
        UM,
        MONTHLY,
        "klines",
        "BTCUSDT",
        "1m",
        D(2020, 1, 1),
        False,
        True,
    ),
    (
        "data/futures/cm/daily/metrics/BTCUSD_PERP/BTCUSD_PERP-metrics-2023-06-25.zip.CHECKSUM",
        CM,
        DAILY,
        "metrics",
        "BTCUSD_PERP",
        None,
        D(2023, 6, 25),
        True,
        True,
    ),
    (
        "data/futures/cm/daily/liquidationSnapshot/BTCUSD_PERP/BTCUSD_PERP-liquidationSnapshot-2023-06-25.zip",
        CM,
        DAILY,
        "liquidationSnapshot",
        "BTCUSD_PERP",
        None,
        D(2023, 6, 25),
        False,
        True,
    ),
    (
        "data/futures/cm/monthly/fundingRate/BTCUSD_PERP/BTCUSD_PERP-fundingRate-2023-05.zip",
        CM,
        MONTHLY,
        "fundingRate",
        "BTCUSD_PERP",
        None,
        D(2023, 5, 1),
        False,
        True,
    ),
    (
        "data/futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2026-09-01.zip.CHECKSUM",
        UM,
        DAILY,
        "trades",
        "BTCUSDT",
        None,
        D(2026, 9, 1),
        True,
        True,
    ),
    (
        "data/futures/um/daily/klines/BTCUSDT/3d/BTCUSDT-3d-2023-06-15.zip",
        UM,
        DAILY,
        "klines",
        "BTCUSDT",
        "3d",
        D(2023, 6, 15),
        False,
        True,
    ),
    (
        "data/futures/um/daily/klines/BTCUSDT/1w/BTCUSDT-1w-2023-06-12.zip",
        UM,
        DAILY,
        "klines",
        "BTCUSDT",
        "1w",
        D(2023, 6, 12),
        False,
        True,
    ),
    (
        "data/futures/um/daily/klines/BTCUSDT/1mo/BTCUSDT-1mo-2023-05-01.zip",
        UM,
        DAILY,
        "klines",
        "BTCUSDT",
        "1mo",
        D(2023, 5, 1),
        False,
        True,
    ),
    (
        "data/futures/cm/daily/klines/BTCUSD_PERP/3d/BTCUSD_PERP-3d-2022-10-21.zip",
        CM,
        DAILY,
        "klines",
        "BTCUSD_PERP",
        "3d",
        D(2022, 10, 21),
        False,
        True,
    ),
    (
        "data/futures/um/daily/markPriceKlines/BTCUSDT/5m/BTCUSDT-5m-2023-11-10.zip",
        UM,
        DAILY,
        "markPriceKlines",
        "BTCUSDT",
        "5m",
        D(2023, 11, 10),
        False,
        True,
    ),
    (
        "data/futures/um/monthly/klines/BTCUSDT_230929/1h/BTCUSDT_230929-1h-2023-09.zip",
        UM,
        MONTHLY,
        "klines",
        "BTCUSDT_230929",
        "1h",
        D(2023, 9, 1),
        False,
        True,
    ),
    (
        "data/futures/cm/monthly/klines/BTCUSD_250328/1d/BTCUSD_250328-1d-2025-03.zip",
        CM,
        MONTHLY,
        "klines",
        "BTCUSD_250328",
        "1d",
        D(2025, 3, 1),
        False,
        True,
    ),
    (
        "data/futures/um/daily/klines/1000000BOBUSDT/1m/1000000BOBUSDT-1m-2025-06-01.zip",
        UM,
        DAILY,
        "klines",
        "1000000BOBUSDT",
        "1m",
        D(2025, 6, 1),
        False,
        True,
    ),
    (
        "data/futures/um/monthly/klines/CVCUSDTSETTLED/1h/CVCUSDTSETTLED-1h-2022-01.zip",
        UM,
        MONTHLY,
        "klines",
        "CVCUSDTSETTLED",
        "1h",
        D(2022, 1, 1),
        False,
        True,
    ),
    (
        "data/futures/cm/daily/indexPriceKlines/ETHUSD/1m/ETHUSD-1m-2024-01-01.zip",
        CM,
        DAILY,
        "indexPriceKlines",
        "ETHUSD",
        "1m",
        D(2024, 1, 1),
        False,
        True,
    ),
    (
        "data/futures/cm/daily/premiumIndexKlines/ADAUSD_PERP/1h/ADAUSD_PERP-1h-2024-01-01.zip",
        CM,
        DAILY,
        "premiumIndexKlines",
        "ADAUSD_PERP",
        "1h",
        D(2024, 1, 1),
        False,
        True,
    ),
    (
        "data/spot/monthly/klines/BTCUSDT/1s/BTCUSDT-1s-2017-08.zip.CHECKSUM",
        SPOT,
        MONTHLY,
        "klines",
        "BTCUSDT",
        "1s",
        D(2017, 8, 1),
        True,
        True,
    ),
    (
        "data/spot/monthly/klines/LUNCBUSD/2h/LUNCBUSD-2h-2022-12.zip",
        SPOT,
        MONTHLY,
        "klines",
        "LUNCBUSD",
        "2h",
        D(2022, 12, 1),
        False,
        True,
    ),
    (
        "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2025-05-19.zip",
        UM,
        DAILY,
        "bookDepth",
        "BTCUSDT",
        None,
        D(2025, 5, 19),
        False,
        True,
    ),
    (
        "data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2022-09.zip",
        UM,
        MONTHLY,
        "aggTrades",
        "BTCUSDT",
        None,
        D(2022, 9, 1),
        False,
        True,
    ),
    (
        "data/option/daily/EOHSummary/BTCUSDT/BTCUSDT-EOHSummary-2023-07-01.zip",
        OPT,
        DAILY,
        "EOHSummary",
        "BTCUSDT",
        None,
        D(2023, 7, 1),
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("key", "market", "cadence", "dataset", "symbol", "interval", "period", "is_checksum", "canonical"),
    REAL_KEYS,
    ids=[row[0].rsplit("/", 1)[-1] for row in REAL_KEYS],
)
def test_real_keys_parse_to_their_fields(
    key: str,
    market: Market,
    cadence: Cadence,
    dataset: str,
    symbol: str,
    interval: str | None,
    period: dt.date,
    is_checksum: bool,
    canonical: bool,
) -> None:
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey), parsed
    expected = ArchiveFile(market, cadence, dataset, symbol, Interval(interval) if interval else None, period)
    assert parsed.file == expected
    assert parsed.is_checksum is is_checksum
    assert parsed.canonical is canonical
    assert parsed.key == key


@pytest.mark.parametrize(
    ("key", "reason_part"),
    [
        ("data/futures/um/daily/klines/BTCUSDT//", "empty path segment"),
        ("data/futures/um/daily/klines/BTCUSDT//BTCUSDT-1h-2024-01-01.zip", "empty path segment"),
        ("index.html", "not under data/"),
        ("updates/2022-04-21_aggregate_trade_updates.zip", "not under data/"),
        ("data/futures/um/daily/klines/BTCUSDT/1h/", "empty path segment"),
        ("data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.csv", "not a .zip"),
        ("data/futures/um/daily/klines/BTCUSDT/1h/ETHUSDT-1h-2024-01-01.zip", "does not start with"),
        ("data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02-30.zip", "not a valid date"),
        ("data/futures/um/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-01.zip", "no daily files"),
        ("data/futures/um/monthly/metrics/BTCUSDT/BTCUSDT-metrics-2024-01.zip", "no monthly files"),
        ("data/futures/um/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-01.zip", "interval 1s"),
        (
            "data/spot/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-01.zip",
            "does not exist in market",
        ),
        ("data/futures/um/daily/nonsense/BTCUSDT/BTCUSDT-nonsense-2024-01-01.zip", "unknown dataset"),
        ("data/futures/xm/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip", "unknown market"),
        ("data/futures/um/daily/klines/btcusdt/1h/btcusdt-1h-2024-01-01.zip", "invalid symbol"),
        ("data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip", "daily date"),
        ("data/futures/um/daily/klines/BTCUSDT/BTCUSDT-1h-2024-01-01.zip", "interval directory"),
        ("data/futures/um/daily/klines/BTCUSDT/2x/BTCUSDT-2x-2024-01-01.zip", "2x"),
        ("", "not under data/"),
    ],
)
def test_keys_that_are_not_dataset_files_say_why(key: str, reason_part: str) -> None:
    parsed = parse_key(key)
    assert isinstance(parsed, NotADatasetFile)
    assert reason_part in parsed.reason


@given(st.text(max_size=120))
def test_parse_key_is_total(text: str) -> None:
    assert isinstance(parse_key(text), ParsedKey | NotADatasetFile)


@given(
    st.from_regex(
        r"data/(spot|futures/(um|cm)|option)/(daily|monthly)/[A-Za-z]{0,12}/[A-Z0-9_/-]{0,30}", fullmatch=True
    )
)
def test_parse_key_is_total_on_key_like_strings(text: str) -> None:
    assert isinstance(parse_key(text), ParsedKey | NotADatasetFile)


def _files() -> st.SearchStrategy[ArchiveFile]:
    """Every dataset x market x cadence x interval the registry allows, over any date and symbol."""

    @st.composite
    def build(draw: st.DrawFn) -> ArchiveFile:
        spec = draw(
            st.sampled_from(sorted((s for s in DATASETS.values() if s.in_archive), key=lambda s: s.name))
        )
        market = draw(st.sampled_from(sorted(spec.markets)))
        cadence = draw(st.sampled_from(sorted(spec.cadences)))
        interval = None
        if spec.has_interval:
            allowed = [i for i in intervals_for(market) if cadence is MONTHLY or has_daily_files(market, i)]
            interval = draw(st.sampled_from(allowed))
        day = draw(st.dates(min_value=D(2017, 1, 1), max_value=D(2030, 12, 31)))
        if cadence is MONTHLY:
            day = day.replace(day=1)
        symbol = draw(st.from_regex(r"[A-Z0-9]{1,12}(_[A-Z0-9]{1,8})?", fullmatch=True))
        return ArchiveFile(market, cadence, spec.name, symbol, interval, day)

    return build()


@given(_files())
def test_key_url_round_trip(file: ArchiveFile) -> None:
    parsed = parse_key(file.key)
    assert isinstance(parsed, ParsedKey)
    assert parsed.file == file and parsed.canonical and not parsed.is_checksum
    checksum = parse_key(file.checksum_key)
    assert isinstance(checksum, ParsedKey) and checksum.is_checksum and checksum.file == file
    assert checksum.zip_key == file.key
    base = "http://127.0.0.1:8123/"
    via_url = parse_url(file.url(base), base)
    assert isinstance(via_url, ParsedKey) and via_url.file == file
    assert file.url("https://data.binance.vision") == "https://data.binance.vision/" + file.key
    assert file.key.startswith(dataset_prefix(file.market, file.cadence, file.dataset))


@given(_files())
def test_lake_path_round_trip(file: ArchiveFile) -> None:
    partitions = partitions_of(file)
    assert partitions, "every file lands somewhere"
    covered = set()
    for partition in partitions:
        assert parse_partition_path(partition.path) == partition
        assert (partition.dataset, partition.market, partition.interval, partition.symbol) == (
            file.dataset,
            file.market,
            file.interval,
            file.symbol,
        )
        covered.update(d for d in file.days() if partition.first_day <= d <= partition.last_day)
    assert covered == set(file.days())


def test_url_of_the_readme_example() -> None:
    file = ArchiveFile(SPOT, MONTHLY, "klines", "ADABKRW", Interval.H1, D(2020, 8, 1))
    assert file.url("https://data.binance.vision/") == (
        "https://data.binance.vision/data/spot/monthly/klines/ADABKRW/1h/ADABKRW-1h-2020-08.zip"
    )
    assert file.checksum_url("https://data.binance.vision").endswith("ADABKRW-1h-2020-08.zip.CHECKSUM")


def test_invalid_combinations_are_refused() -> None:
    with pytest.raises(UsageError, match="no daily files"):
        ArchiveFile(UM, DAILY, "fundingRate", "BTCUSDT", None, D(2024, 1, 1))
    with pytest.raises(UsageError, match="needs an interval"):
        ArchiveFile(UM, DAILY, "klines", "BTCUSDT", None, D(2024, 1, 1))
    with pytest.raises(UsageError, match="first day"):
        ArchiveFile(UM, MONTHLY, "klines", "BTCUSDT", Interval.H1, D(2024, 1, 2))
    with pytest.raises(UsageError, match="does not exist in market"):
        ArchiveFile(SPOT, MONTHLY, "fundingRate", "BTCUSDT", None, D(2024, 1, 1))


def test_partition_paths_look_like_the_design() -> None:
    kline = ArchiveFile(UM, DAILY, "klines", "BTCUSDT", Interval.H1, D(2024, 3, 9))
    (partition,) = partitions_of(kline)
    assert str(partition.path) == "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2024-03.parquet"
    trades = ArchiveFile(UM, MONTHLY, "trades", "BTCUSDT", None, D(2024, 2, 1))
    paths = [str(p.path) for p in partitions_of(trades)]
    assert len(paths) == 29
    assert paths[0] == "tables/trades/market=um/symbol=BTCUSDT/2024-02-01.parquet"
