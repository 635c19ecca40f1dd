"""`Lake.update` against the simulator with a moving clock: the lake reaches the last closed bar (never the
open one), REST days are provisional and replaced by the archive with a reconciliation reporting exactly an
injected difference, funding of the current month comes from REST, an update of an up-to-date lake fetches
only the running day, and a dry run writes nothing."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from binance_lake import Lake, UsageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.provenance import Provenance
from binance_lake.core.timerange import UTC, day_start, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim.rest import RestRevisions
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.parquet import read_partition
from binance_lake.storage.provenance import held_days
from binance_lake.storage.reconciliation import reconciliations

# 06:00: the daily files of 11-17 are not published yet (they appear the next day around 08:40 UTC).
T0 = dt.datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
T1 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(Universe.build("small", now=T0), rest_revisions=RestRevisions()) as running:
        yield running


def _lake(server: SimServer, root: Path) -> Lake:
    root.mkdir(exist_ok=True)
    return Lake(root, settings=server.settings(root))


def _sources(root: Path, dataset: str, interval: str | None) -> dict[dt.date, Provenance]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        days = held_days(
            connection,
            market="um",
            dataset=dataset,
            interval=interval,
            symbols=["BTCUSDT"],
            first=dt.date(2026, 1, 1),
            last=dt.date(2026, 12, 31),
        )
    return {h.day: h.source for h in days}


def _month(root: Path, dataset: str, interval: Interval | None, day: dt.date) -> pa.Table:
    table = read_partition(root / partition_for_day(dataset, Market.UM, interval, "BTCUSDT", day).path)
    assert table is not None
    return table


def test_update_reaches_the_last_closed_bar_and_reconciles_what_the_archive_publishes(
    server: SimServer, tmp_path: Path
) -> None:
    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-14", end="2026-11-17"
    ).ok
    # A bar REST serves with another close than the archive will publish (a revision after the fact).
    revised_open = to_millis(day_start(dt.date(2026, 11, 17))) + 3 * 3_600_000
    server.rest_revisions.revise(Market.UM, "klines", "BTCUSDT", Interval.H1, revised_open, close=1.5)

    first = lake.update()
    assert first.ok and not first.reconciled
    bars = _month(tmp_path / "lake", "klines", Interval.H1, T0.date())
    newest = bars.column("open_time")[-1].as_py()
    assert newest == T0 - dt.timedelta(hours=1)  # the 05:00 bar closed at 06:00; the 06:00 bar is open
    sources = _sources(tmp_path / "lake", "klines", "1h")
    assert sources[dt.date(2026, 11, 16)] is Provenance.ARCHIVE_DAILY
    assert sources[dt.date(2026, 11, 17)] is Provenance.REST and sources[T0.date()] is Provenance.REST
    assert set(first.provisional[next(iter(first.provisional))]) == {dt.date(2026, 11, 17), T0.date()}

    server.universe.clock.set(T1)  # the archive now has 11-17 .. 11-19
    second = lake.update()
    assert second.ok
    by_day = {r.day: r for r in second.reconciled}
    assert set(by_day) == {dt.date(2026, 11, 17), T0.date()}
    assert by_day[dt.date(2026, 11, 17)].differing_rows == 1
    assert by_day[dt.date(2026, 11, 17)].columns == ("close",)
    assert by_day[T0.date()].differing_rows == 0  # REST had 6 of its bars, all equal to the archive's
    assert (by_day[T0.date()].rest_rows, by_day[T0.date()].archive_rows) == (6, 24)
    sources = _sources(tmp_path / "lake", "klines", "1h")
    assert all(sources[d] is Provenance.ARCHIVE_DAILY for d in (dt.date(2026, 11, 17), T0.date()))
    assert sources[T1.date()] is Provenance.REST
    bars = _month(tmp_path / "lake", "klines", Interval.H1, T1.date())
    assert bars.column("open_time")[-1].as_py() == T1 - dt.timedelta(hours=1)
    revised = bars.filter(
        pc.equal(
            bars.column("open_time"),
            pa.scalar(
                day_start(dt.date(2026, 11, 17)) + dt.timedelta(hours=3), bars.schema.field("open_time").type
            ),
        )
    )
    assert revised.column("close")[0].as_py() != 1.5  # the archive's value replaced REST's
    with LakeDatabase(tmp_path / "lake").connect(read_only=True) as connection:
        recorded = reconciliations(connection)
    assert [(r.day, r.differing_rows, r.columns) for r in recorded if r.differing_rows] == [
        (dt.date(2026, 11, 17), 1, ("close",))
    ]

    # Up to date: no bar has closed since, so nothing is asked but the server's time; nothing reconciled twice.
    third = lake.update()
    assert third.ok and not third.reconciled
    assert third.fill.windows == () and third.fill.requests == 1
    # Ninety minutes later: the REST day continues after its last stored bar (one small page).
    server.universe.clock.set(T1 + dt.timedelta(minutes=90))
    fourth = lake.update()
    (window,) = fourth.fill.windows
    assert window.start_ms == to_millis(T1 - dt.timedelta(hours=1)) + 1 and fourth.fill.rows == 1
    assert _sources(tmp_path / "lake", "klines", "1h")[T1.date()] is Provenance.REST
    with LakeDatabase(tmp_path / "lake").connect(read_only=True) as connection:
        (today,) = held_days(
            connection,
            market="um",
            dataset="klines",
            interval="1h",
            symbols=["BTCUSDT"],
            first=T1.date(),
            last=T1.date(),
        )
    assert today.rows == 13  # 00:00 .. 12:00


def test_funding_of_the_current_month_comes_from_rest(server: SimServer, tmp_path: Path) -> None:
    server.universe.clock.set(T1)
    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(datasets="fundingRate", symbols="BTCUSDT", start="2026-10-01", end="2026-10-31").ok
    report = lake.update(market="um")
    assert report.ok
    november = _month(tmp_path / "lake", "fundingRate", None, T1.date())
    times = november.column("calc_time").to_pylist()
    # Every 8 hours from 11-01 00:00 to the last funding time before 12:00 on 11-20.
    assert len(times) == 19 * 3 + 2 and times[0].date() == dt.date(2026, 11, 1)
    assert times[-1] < T1
    sources = _sources(tmp_path / "lake", "fundingRate", None)
    assert sources[dt.date(2026, 10, 31)] is Provenance.ARCHIVE_MONTHLY
    assert sources[dt.date(2026, 11, 1)] is Provenance.REST
    again = lake.update(market="um")  # 12:00; the next funding after 08:00 is due at 16:00
    assert again.ok and again.fill.windows == ()


def test_a_dry_run_plans_and_writes_nothing(server: SimServer, tmp_path: Path) -> None:
    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-15", end="2026-11-16"
    ).ok
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "tables").rglob("*.parquet"))
    report = lake.update(dry_run=True)
    assert report.dry_run and len(report.fill.windows) == 1 and report.fill.rows == 0
    assert report.fill.windows[0].first_day == dt.date(2026, 11, 17)
    after = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "tables").rglob("*.parquet"))
    assert before == after
    assert set(_sources(tmp_path / "lake", "klines", "1h")) == {dt.date(2026, 11, 15), dt.date(2026, 11, 16)}


def test_bad_input_is_one_sentence(server: SimServer, tmp_path: Path) -> None:
    lake = _lake(server, tmp_path / "lake")
    with pytest.raises(UsageError, match=r"no lake|holds no series"):
        lake.update()
    with pytest.raises(UsageError, match="--days-back"):
        lake.update(days_back=-1)
    with pytest.raises(UsageError, match="--fill-gaps"):
        lake.update(max_gap_days=3)


def test_fill_gaps_fetches_days_missing_inside_the_held_range(server: SimServer, tmp_path: Path) -> None:
    lake = _lake(server, tmp_path / "lake")
    for start, end in (("2026-11-08", "2026-11-10"), ("2026-11-14", "2026-11-16")):
        assert lake.sync(datasets="klines", intervals="1h", symbols="BTCUSDT", start=start, end=end).ok
    plain = lake.update(dry_run=True)
    assert all(w.first_day >= dt.date(2026, 11, 15) for w in plain.fill.windows)  # gaps left alone
    report = lake.update(fill_gaps=True, max_gap_days=2)
    assert report.ok
    sources = _sources(tmp_path / "lake", "klines", "1h")
    assert (
        sources[dt.date(2026, 11, 11)] is Provenance.REST
        and sources[dt.date(2026, 11, 12)] is Provenance.REST
    )
    assert dt.date(2026, 11, 13) not in sources  # --max-gap-days 2: the rest waits for the next run
    bars = _month(tmp_path / "lake", "klines", Interval.H1, dt.date(2026, 11, 11))
    days = pc.cast(bars.column("open_time"), pa.date32()).to_pylist()
    assert days.count(dt.date(2026, 11, 11)) == 24
    again = lake.update(fill_gaps=True)
    assert again.ok
    assert dt.date(2026, 11, 13) in _sources(tmp_path / "lake", "klines", "1h")


def test_load_serves_each_source_and_says_which_source_each_row_came_from(
    server: SimServer, tmp_path: Path
) -> None:
    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-15", end="2026-11-16"
    ).ok
    assert lake.update().ok  # 11-17 and 11-18 (to 05:00) from REST
    whole = lake.load("klines", "BTCUSDT", "2026-11-15", T0, interval="1h", as_="arrow", with_source=True)
    by_source = dict(zip(*pc.value_counts(whole.column("source")).flatten(), strict=True))
    assert {k.as_py(): v.as_py() for k, v in by_source.items()} == {"archive_daily": 48, "rest": 30}
    # rest: every row from REST. The archive days 11-15/16 are fetched and returned, never stored over the
    # archive's; the lake's REST days are read; 11-13/14, which the lake lacks, are fetched and stored.
    rest = lake.load("klines", "BTCUSDT", "2026-11-13", T0, interval="1h", as_="arrow", source="rest")
    assert rest.num_rows == 24 * 5 + 6 and "source" not in rest.column_names
    assert rest.column("open_time").to_pylist() == sorted(set(rest.column("open_time").to_pylist()))
    archived = whole.filter(pc.equal(whole.column("source"), "archive_daily")).drop_columns(["source"])
    first, end = archived.column("open_time")[0], archived.column("open_time")[-1]
    times = rest.column("open_time")
    from_rest = rest.filter(pc.and_(pc.greater_equal(times, first), pc.less_equal(times, end)))
    assert archived.num_rows == 48 and from_rest.equals(archived)  # REST agrees with the archive, bar for bar
    sources = _sources(tmp_path / "lake", "klines", "1h")
    assert sources[dt.date(2026, 11, 15)] is Provenance.ARCHIVE_DAILY  # not replaced by the REST rows
    assert (
        sources[dt.date(2026, 11, 13)] is Provenance.REST
        and sources[dt.date(2026, 11, 14)] is Provenance.REST
    )
    tagged = lake.load(
        "klines", "BTCUSDT", "2026-11-15", T0, interval="1h", as_="arrow", source="rest", with_source=True
    )
    assert set(tagged.column("source").to_pylist()) == {"rest"} and tagged.num_rows == 78
    archive = lake.load("klines", "BTCUSDT", "2026-11-15", T0, interval="1h", as_="arrow", source="archive")
    assert archive.num_rows == 48
    assert lake.load("klines", "BTCUSDT", "2026-11-15", T0, interval="1h", as_="arrow").num_rows == 78
    # auto: the lake holds 11-14 from REST (the rest load above) and lacks the bars since (REST, once the
    # clock moved).
    server.universe.clock.set(T0 + dt.timedelta(hours=3))
    auto = lake.load(
        "klines",
        "BTCUSDT",
        "2026-11-14",
        T0 + dt.timedelta(hours=3),
        interval="1h",
        as_="arrow",
        source="auto",
    )
    assert auto.num_rows == 24 * 4 + 9  # 11-14 .. 11-17 whole, 11-18 00:00 .. 08:00 (closed at 09:00)
    with pytest.raises(UsageError, match="unknown source"):
        lake.load("klines", "BTCUSDT", "2026-11-15", interval="1h", source="stream")


def test_the_newest_funding_records_interval_comes_from_premium_index(
    server: SimServer, tmp_path: Path
) -> None:
    # 1000XECUSDT funds every 4 hours since 2026-07-16 (sim/content.py FUNDING_SWITCH); REST records carry no
    # interval, and a run that fetches one record has no gap to infer it from.
    server.universe.clock.set(T1)
    lake = _lake(server, tmp_path / "lake")
    symbol = "1000XECUSDT"
    assert lake.sync(datasets="fundingRate", symbols=symbol, start="2026-10-01", end="2026-10-31").ok
    assert lake.update(market="um").ok  # 11-01 .. 11-20 08:00
    server.universe.clock.set(T1 + dt.timedelta(minutes=30))
    again = lake.update(market="um")
    assert again.ok and again.fill.rows == 1  # the 12:00 funding alone
    table = read_partition(
        tmp_path / "lake" / partition_for_day("fundingRate", Market.UM, None, symbol, T1.date()).path
    )
    assert table is not None
    assert set(table.column("funding_interval_hours").to_pylist()) == {4}  # as the archive will say
    assert table.column("calc_time")[-1].as_py() >= T1


def test_a_plain_sync_that_replaces_a_rest_day_records_its_reconciliation(
    server: SimServer, tmp_path: Path
) -> None:
    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-14", end="2026-11-16"
    ).ok
    revised_open = to_millis(day_start(dt.date(2026, 11, 17))) + 5 * 3_600_000
    server.rest_revisions.revise(Market.UM, "klines", "BTCUSDT", Interval.H1, revised_open, volume=2.5)
    assert lake.update().ok  # 11-17 and 11-18 from REST
    server.universe.clock.set(T1)
    synced = lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-17", end="2026-11-17"
    )
    assert synced.ok
    ((day, rows, columns),) = [(r.day, r.differing_rows, r.columns) for r in synced.reconciled]
    assert (day, rows, columns) == (dt.date(2026, 11, 17), 1, ("volume",))
    assert synced.summary()["reconciled"][0]["columns"] == ["volume"]
    with LakeDatabase(tmp_path / "lake").connect(read_only=True) as connection:
        recorded = reconciliations(connection)
    assert [(r.day, r.differing_rows, r.columns) for r in recorded] == [
        (dt.date(2026, 11, 17), 1, ("volume",))
    ]
    assert _sources(tmp_path / "lake", "klines", "1h")[dt.date(2026, 11, 18)] is Provenance.REST
    # The update after it does not reconcile the day again.
    later = lake.update()
    assert later.ok and dt.date(2026, 11, 17) not in {r.day for r in later.reconciled}


def test_the_rest_fill_reports_progress_events(server: SimServer, tmp_path: Path) -> None:
    from binance_lake.cli.progress import rest_counts
    from binance_lake.core.progress import Phase, ProgressEvent

    lake = _lake(server, tmp_path / "lake")
    assert lake.sync(
        datasets="klines", intervals="1h,1m", symbols="BTCUSDT", start="2026-11-15", end="2026-11-16"
    ).ok
    events: list[ProgressEvent] = []
    report = lake.update(progress=events.append)
    rest = [e for e in events if e.phase is Phase.REST]
    assert rest and rest[0].total == len(report.fill.windows) == 2
    last = rest[-1]
    assert (last.done, last.rows, last.failures) == (2, report.fill.rows, 0)
    assert last.pages == report.fill.requests - 1  # every request but the server's time
    assert all(a.done <= b.done and a.rows <= b.rows for a, b in itertools.pairwise(rest))
    assert rest_counts(last) == f"2/2 series, {report.fill.rows} rows, {last.pages} requests, 0 failed"
