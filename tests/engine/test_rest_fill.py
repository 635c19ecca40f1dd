"""The REST fill: its pure plan (resume point, last closed bar, what REST can fill), and against the simulator
a REST day that equals the archive day bar for bar, with provenance `rest` naming the REST request."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake import Lake
from binance_lake.binance.http import make_session
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import UTC, day_start, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.rest_fill import (
    HeldEnd,
    RestWindow,
    last_closed_ms,
    plan_rest_fill,
    resume_ms,
    run_rest_fill,
)
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.parquet import read_partition
from binance_lake.storage.provenance import held_days

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_MS = to_millis(NOW)
DAY = dt.date(2026, 11, 18)
UM_1H = SeriesKey(Market.UM, "klines", Interval.H1, "BTCUSDT")


def test_resume_after_an_archive_day_at_a_rest_day_or_at_the_window() -> None:
    first = dt.date(2026, 11, 10)
    after = to_millis(day_start(DAY + dt.timedelta(1)))
    assert resume_ms(HeldEnd(DAY, Provenance.ARCHIVE_DAILY), first) == after
    assert resume_ms(HeldEnd(DAY, Provenance.REST), first) == to_millis(day_start(DAY))
    # The last stored bar, even before the window (a monthly-only funding archive ends a month back).
    october = HeldEnd(dt.date(2026, 10, 31), Provenance.ARCHIVE_MONTHLY)
    assert resume_ms(october, first) == to_millis(day_start(dt.date(2026, 11, 1)))
    assert resume_ms(None, first) == to_millis(day_start(first))


def test_the_last_closed_bar_is_the_one_whose_close_has_passed() -> None:
    assert last_closed_ms(UM_1H, NOW_MS) == NOW_MS - 3_600_000  # the 11:00 bar closed at 12:00
    m1 = UM_1H._replace(interval=Interval.M1)
    assert last_closed_ms(m1, NOW_MS + 30_000) == NOW_MS - 30_000  # 12:00 is open; 11:59 closed
    month = UM_1H._replace(interval=Interval.MO1)
    assert last_closed_ms(month, NOW_MS) == to_millis(day_start(dt.date(2026, 11, 1))) - 1
    funding = SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT")
    assert last_closed_ms(funding, NOW_MS) == NOW_MS


@settings(deadline=None)
@given(
    now=st.integers(min_value=NOW_MS - 10**10, max_value=NOW_MS + 10**10),
    interval=st.sampled_from([i for i in Interval if not i.is_calendar]),
)
def test_no_window_reaches_an_open_bar(now: int, interval: Interval) -> None:
    series = UM_1H._replace(interval=interval)
    (window,) = plan_rest_fill([series], {}, window_first=dt.date(2026, 1, 1), now_ms=now)
    assert window.end_ms + interval.milliseconds <= now  # every bar it may return has closed


def test_only_what_rest_serves_is_planned() -> None:
    wanted = [
        UM_1H,
        SeriesKey(Market.UM, "metrics", None, "BTCUSDT"),
        SeriesKey(Market.SPOT, "klines", Interval.S1, "BTCUSDT"),
        SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT"),
    ]
    planned = plan_rest_fill(wanted, {}, window_first=DAY, now_ms=NOW_MS)
    assert [w.series.dataset for w in planned] == ["klines", "klines", "fundingRate"]
    held = {UM_1H: HeldEnd(NOW.date(), Provenance.ARCHIVE_DAILY)}  # already whole up to today
    assert plan_rest_fill([UM_1H], held, window_first=DAY, now_ms=NOW_MS) == []


def _day(root: Path, series: SeriesKey, day: dt.date) -> pa.Table:
    partition = partition_for_day(series.dataset, series.market, series.interval, series.symbol, day)
    table = read_partition(root / partition.path)
    assert table is not None
    column = table.column(partition.spec.time_column)
    low = pa.scalar(day_start(day), type=column.type)
    high = pa.scalar(day_start(day + dt.timedelta(days=1)), type=column.type)
    return table.filter(pc.and_(pc.greater_equal(column, low), pc.less(column, high)))


def _rest_fill(server: SimServer, root: Path, windows: list[RestWindow]) -> None:
    database = LakeDatabase(root)
    ensure_catalog(database)

    async def go() -> None:
        async with make_session() as session:
            client = MarketRestClient(session, server.settings(root))
            report = await run_rest_fill(windows, client, database)
            assert not report.failures

    asyncio.run(go())


SAME_DAY_SERIES = [
    SeriesKey(Market.UM, "klines", Interval.M1, "BTCUSDT"),
    SeriesKey(Market.UM, "klines", Interval.H1, "BTCUSDT"),
    SeriesKey(Market.UM, "markPriceKlines", Interval.H1, "BTCUSDT"),
    SeriesKey(Market.UM, "indexPriceKlines", Interval.H1, "BTCUSDT"),
    SeriesKey(Market.UM, "premiumIndexKlines", Interval.H1, "BTCUSDT"),
    SeriesKey(Market.CM, "klines", Interval.H1, "BTCUSD_PERP"),
    SeriesKey(Market.SPOT, "klines", Interval.M1, "BTCUSDT"),
]


def test_a_rest_day_equals_the_archive_day_bar_for_bar(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    server = make_sim(now=NOW)
    archive_root, rest_root = tmp_path / "archive", tmp_path / "rest"
    archive_root.mkdir()
    rest_root.mkdir()
    lake = Lake(archive_root, settings=server.settings(archive_root))
    for market in (Market.UM, Market.CM, Market.SPOT):
        for series in (s for s in SAME_DAY_SERIES if s.market is market):
            report = lake.sync(
                market=market.value,
                datasets=series.dataset,
                intervals=series.interval.value if series.interval else None,
                symbols=series.symbol,
                start=DAY,
                end=DAY,
            )
            assert report.ok and report.execution is not None and report.execution.ingested == 1
    start = to_millis(day_start(DAY))
    _rest_fill(server, rest_root, [RestWindow(s, start, start + 86_400_000 - 1) for s in SAME_DAY_SERIES])
    for series in SAME_DAY_SERIES:
        archive_day, rest_day = _day(archive_root, series, DAY), _day(rest_root, series, DAY)
        assert archive_day.num_rows > 0
        assert rest_day.schema == archive_day.schema, series
        assert rest_day.equals(archive_day), series
    with LakeDatabase(rest_root).connect(read_only=True) as connection:
        (held,) = held_days(
            connection, market="um", dataset="klines", interval="1h", symbols=["BTCUSDT"], first=DAY, last=DAY
        )
    assert held.source is Provenance.REST and held.rows == 24
    assert held.upstream_ref.startswith(
        server.base_url + "/sim-fapi/fapi/v1/klines?symbol=BTCUSDT&interval=1h"
    )


def test_rest_funding_equals_the_archive_month(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    server = make_sim(now=NOW)
    month = dt.date(2026, 10, 1)
    (tmp_path / "a").mkdir()
    lake = Lake(tmp_path / "a", settings=server.settings(tmp_path / "a"))
    assert lake.sync(datasets="fundingRate", symbols="BTCUSDT", start=month, end=dt.date(2026, 10, 31)).ok
    (tmp_path / "b").mkdir()
    funding = SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT")
    start = to_millis(day_start(month))
    _rest_fill(
        server, tmp_path / "b", [RestWindow(funding, start, to_millis(day_start(dt.date(2026, 11, 1))) - 1)]
    )
    partition = partition_for_day("fundingRate", Market.UM, None, "BTCUSDT", month)
    archived = read_partition(tmp_path / "a" / partition.path)
    fetched = read_partition(tmp_path / "b" / partition.path)
    assert archived is not None and fetched is not None and archived.num_rows == 93
    assert fetched.equals(archived)


def test_a_delisted_symbol_is_never_asked_for_after_its_last_day() -> None:
    held = {UM_1H: HeldEnd(dt.date(2026, 11, 10), Provenance.ARCHIVE_DAILY)}
    last_days = {UM_1H: dt.date(2026, 11, 10)}  # its last trading day, all of it stored
    assert plan_rest_fill([UM_1H], held, window_first=DAY, now_ms=NOW_MS, last_days=last_days) == []
    earlier = {UM_1H: HeldEnd(dt.date(2026, 11, 8), Provenance.ARCHIVE_DAILY)}
    (window,) = plan_rest_fill([UM_1H], earlier, window_first=DAY, now_ms=NOW_MS, last_days=last_days)
    assert window.end_ms == to_millis(day_start(dt.date(2026, 11, 11))) - 1


def test_funding_is_not_asked_for_before_the_next_funding_time() -> None:
    funding = SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT")
    last = NOW_MS - 4 * 3_600_000 + 7  # 08:00:00.007, an 8-hour interval: the next is due at 16:00
    held = {funding: HeldEnd(NOW.date(), Provenance.REST, last, last - 7 + 8 * 3_600_000)}
    assert plan_rest_fill([funding], held, window_first=DAY, now_ms=NOW_MS) == []
    (window,) = plan_rest_fill([funding], held, window_first=DAY, now_ms=NOW_MS + 4 * 3_600_000)
    assert window.start_ms == last + 1


def test_the_last_stored_time_of_a_day_from_the_footer_or_the_column(tmp_path: Path) -> None:
    from binance_lake.engine.rest_fill import last_stored_ms
    from binance_lake.storage.parquet import merge_partition

    series = SeriesKey(Market.UM, "klines", Interval.H1, "BTCUSDT")
    first = dt.date(2026, 11, 10)
    from binance_lake.core.datasets import get_dataset

    schema = get_dataset("klines").schema(Market.UM)
    opens = [
        day_start(first) + dt.timedelta(hours=h) for h in (0, 5, 9, 24, 30)
    ]  # 11-10 to 09:00, 11-11 to 06:00
    table = pa.table(
        {
            name: (
                pa.array(opens, schema.field(name).type)
                if name == "open_time"
                else pa.array([o + dt.timedelta(minutes=59) for o in opens], schema.field(name).type)
                if name == "close_time"
                else pa.array([1] * 5, schema.field(name).type)
            )
            for name in schema.names
        },
        schema=schema,
    )
    merge_partition(tmp_path, partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", first), table)
    assert last_stored_ms(tmp_path, series, first + dt.timedelta(days=1)) == to_millis(opens[-1])  # footer
    assert last_stored_ms(tmp_path, series, first) == to_millis(opens[2])  # later rows in the file: read
    assert last_stored_ms(tmp_path, series, first + dt.timedelta(days=2)) is None
