"""The bucket's fast paths agree with the straightforward ones: a directory's files are exactly the visible
candidates, and the metadata a listing gives a key is exactly what HEAD gives it."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.timerange import UTC, iter_days, iter_months
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.sim import placement
from binance_lake.sim.bucket import Bucket, unit, with_period
from binance_lake.sim.listing import ListRequest, Tree, list_page
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.market_model import unit_hash
from binance_lake.sim.universe import DEFAULT_NOW, Universe

CLOCKS = (
    DEFAULT_NOW,
    dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC),  # after the late uploads (#150)
    dt.datetime(2025, 1, 15, 9, 0, tzinfo=UTC),  # before a re-upload (#413)
    dt.datetime(2020, 9, 1, 9, 0, tzinfo=UTC),
)


@settings(max_examples=200)
@given(seed=st.integers(0, 2**40), tag=st.text(max_size=12), key=st.text(max_size=80))
def test_unit_is_unit_hash(seed: int, tag: str, key: str) -> None:
    assert unit(seed, tag, key) == unit_hash(seed, tag, key)


@given(days=st.integers(0, 3000))
def test_with_period_equals_a_built_file(days: int) -> None:
    template = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2019, 9, 8))
    period = dt.date(2019, 9, 8) + dt.timedelta(days=days)
    built = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, period)
    derived = with_period(template, period)
    assert derived == built and hash(derived) == hash(built) and derived.key == built.key
    assert template.period == dt.date(2019, 9, 8)


# Where the quirks, gaps, pairs, deliveries and phased intervals are (every directory would take minutes).
SAMPLED_NAMES = {
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XEMUSDT",
    "CVCUSDTSETTLED",
    "BTCUSDT_230929",
    "BTCUSDC",
    "ADABKRW",
    "BTCUSD",
    "BTCUSD_PERP",
    "BTCBVOLUSDT",
}
SAMPLED_INTERVALS = {None, Interval.H1, Interval.D1, Interval.D3, Interval.W1, Interval.MO1}


def _directories(universe: Universe) -> list[tuple[Market, Cadence, str, str, Interval | None]]:
    """The sampled (market, cadence, dataset, directory name, interval) the universe's symbols offer."""
    found = set()
    for market in Market:
        for sym in universe.symbols(market):
            for dataset, intervals in universe.offer(market, sym.symbol).items():
                name = sym.pair if get_dataset(dataset).directory_is_pair else sym.symbol
                for cadence in get_dataset(dataset).cadences:
                    for interval in intervals or (None,):
                        if name in SAMPLED_NAMES and interval in SAMPLED_INTERVALS:
                            found.add((market, cadence, dataset, name, interval))
    return sorted(found, key=str)


def _reference_periods(
    bucket: Bucket,
    market: Market,
    cadence: Cadence,
    dataset: str,
    name: str,
    interval: Interval | None,
    now: dt.datetime,
) -> list[dt.date]:
    """Every candidate file of the directory that `visible_file` accepts, built one by one."""
    window = bucket.window(market, dataset, name, interval)
    if window is None:
        return []
    last = min(window[1], now.date())
    candidates = iter_days(window[0], last) if cadence is Cadence.DAILY else iter_months(window[0], last)
    return [
        period
        for period in candidates
        if bucket.visible_file(ArchiveFile(market, cadence, dataset, name, interval, period), now)
    ]


@pytest.mark.parametrize("now", CLOCKS, ids=lambda c: c.date().isoformat())
def test_directory_files_are_the_visible_candidates(now: dt.datetime) -> None:
    universe = Universe.build("small", now=now)
    bucket = Bucket(universe)
    for market, cadence, dataset, name, interval in _directories(universe):
        files = bucket.periods(market, cadence, dataset, name, interval, now)
        expected = _reference_periods(bucket, market, cadence, dataset, name, interval, now)
        assert [f.period for f in files] == expected, (market, cadence, dataset, name, interval)
        assert all(f.key == ArchiveFile(*_fields(f)).key for f in files[:3] + files[-3:])


def _fields(file: ArchiveFile) -> tuple[Market, Cadence, str, str, Interval | None, dt.date]:
    return file.market, file.cadence, file.dataset, file.symbol, file.interval, file.period


@pytest.mark.parametrize("now", CLOCKS[:2], ids=lambda c: c.date().isoformat())
def test_every_listed_key_is_visible(now: dt.datetime) -> None:
    universe = Universe.build("small", now=now)
    bucket = Bucket(universe)
    tree = Tree(bucket, now)
    for market, cadence, dataset, name, interval in _directories(universe):
        if interval not in (None, Interval.H1, Interval.W1) or (market is Market.SPOT and interval):
            continue
        path = f"data/{market.archive_dir}/{cadence.value}/{dataset}/{name}/"
        path += f"{interval.value}/" if interval is not None else ""
        listed = list(tree.iter_keys(path, ""))
        assert listed == sorted(listed)
        assert all(bucket.resolve(key, now) is not None for key in listed), path


@pytest.mark.parametrize(
    "prefix",
    [
        "data/futures/um/daily/klines/",
        "data/futures/um/daily/klines/KOBALUUSDT/1d/KOBALUUSDT-1d-2024-0",
        "data/futures/um/monthly/klines/",
        "data/futures/um/daily/metrics/LUVEXKOUSDT/",
        "data/futures/um/monthly/fundingRate/ZEN",
    ],
)
def test_listed_metadata_equals_head_in_the_large_universe(prefix: str) -> None:
    universe = Universe.build("large")
    bucket = Bucket(universe)
    for now in (DEFAULT_NOW, dt.datetime(2024, 2, 29, 9, 0, tzinfo=UTC)):
        page = list_page(bucket, ListRequest(prefix=prefix, max_keys=600), now)
        assert page.contents
        assert [bucket.head(meta.key, now) for meta in page.contents] == page.contents


def test_listed_metadata_equals_head_where_quirks_live() -> None:
    universe = Universe.build("small")
    bucket = Bucket(universe)
    for now in CLOCKS[:3]:
        for prefix in (
            "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-06-",
            "data/futures/um/daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-1",
            "data/spot/monthly/klines/ADABKRW/1d/",
        ):
            page = list_page(bucket, ListRequest(prefix=prefix), now)
            assert [bucket.head(meta.key, now) for meta in page.contents] == page.contents


@pytest.mark.parametrize("late", sorted(placement.LATE_FILES), ids=lambda f: f.symbol)
def test_manifest_keys_leave_out_unpublished_late_uploads(late: ArchiveFile) -> None:
    manifest = Manifest(Universe.build("small"))
    prefix = late.key[: -len("7.zip")]  # its ten days
    keys = list(manifest.keys(prefix))
    assert keys and late.key not in keys and late.key < keys[-1]
    assert keys == [o.key for o in manifest.objects(prefix)]
    assert manifest.bucket.head(late.key, manifest.now) is None
