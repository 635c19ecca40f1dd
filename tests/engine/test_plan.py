"""The planner: monthly over daily, re-uploads, quarantine fallback, and idempotence."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.plan import CatalogFile, Reason, plan_sync
from binance_lake.engine.state import FileStatus, RecordedFile

D = dt.date


def daily(symbol: str, day: dt.date, etag: str = "a", dataset: str = "klines") -> CatalogFile:
    interval = Interval.H1 if dataset == "klines" else None
    f = ArchiveFile(Market.UM, Cadence.DAILY, dataset, symbol, interval, day)
    return CatalogFile(f.key, f, 1000, etag, True)


def monthly(symbol: str, month: dt.date, etag: str = "m") -> CatalogFile:
    f = ArchiveFile(Market.UM, Cadence.MONTHLY, "klines", symbol, Interval.H1, month)
    return CatalogFile(f.key, f, 20000, etag, True)


def ingested(*entries: CatalogFile, status: FileStatus = FileStatus.INGESTED) -> dict[str, RecordedFile]:
    return {e.key: RecordedFile(e.key, status, e.etag, e.size, 1) for e in entries}


def test_monthly_preferred_and_daily_for_the_rest() -> None:
    catalog = [monthly("BTCUSDT", D(2024, 1, 1))] + [daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 32)]
    catalog += [daily("BTCUSDT", D(2024, 2, d)) for d in range(1, 11)]
    plan = plan_sync(catalog, {}, D(2024, 1, 1), D(2024, 2, 10))
    keys = [p.key for p in plan.fetch]
    assert keys[0].endswith("BTCUSDT-1h-2024-01.zip")
    assert len(keys) == 1 + 10
    assert all(p.reason is Reason.NEW for p in plan.fetch)
    assert plan.bytes == 20000 + 10 * 1000


def test_month_held_as_daily_files_is_replaced_by_its_monthly_file() -> None:
    days = [daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 32)]
    held = ingested(*days)
    assert plan_sync(days, held, D(2024, 1, 1), D(2024, 1, 31)).is_empty
    plan = plan_sync([*days, monthly("BTCUSDT", D(2024, 1, 1))], held, D(2024, 1, 1), D(2024, 1, 31))
    assert [p.key.rsplit("/", 1)[-1] for p in plan.fetch] == ["BTCUSDT-1h-2024-01.zip"]


def test_reupload_is_fetched_again() -> None:
    entry = daily("BTCUSDT", D(2024, 3, 1))
    plan = plan_sync(
        [daily("BTCUSDT", D(2024, 3, 1), etag="b")], ingested(entry), D(2024, 3, 1), D(2024, 3, 1)
    )
    assert [p.reason for p in plan.fetch] == [Reason.CHANGED]


def test_quarantined_monthly_falls_back_to_daily_files() -> None:
    month = monthly("BTCUSDT", D(2024, 1, 1))
    days = [daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 32)]
    plan = plan_sync(
        [month, *days], ingested(month, status=FileStatus.QUARANTINED), D(2024, 1, 1), D(2024, 1, 31)
    )
    assert len(plan.fetch) == 31 and plan.quarantined == (month.key,)


def test_quarantined_days_are_never_reported_as_missing_upstream() -> None:
    days = [daily("BTCUSDT", D(2024, 3, d)) for d in range(1, 6)]
    bad = days[2]
    plan = plan_sync(days, ingested(bad, status=FileStatus.QUARANTINED), D(2024, 3, 1), D(2024, 3, 5))
    assert plan.quarantined == (bad.key,) and plan.unavailable == {}
    assert bad.key not in {p.key for p in plan.fetch}
    # A quarantined monthly file with no daily files for some of its days: those days are in the archive.
    month = monthly("BTCUSDT", D(2024, 1, 1))
    partial = [daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 11)]
    plan = plan_sync(
        [month, *partial], ingested(month, status=FileStatus.QUARANTINED), D(2024, 1, 1), D(2024, 1, 31)
    )
    assert plan.quarantined == (month.key,) and plan.unavailable == {} and len(plan.fetch) == 10


def test_retry_quarantined_fetches_quarantined_files_again() -> None:
    month = monthly("BTCUSDT", D(2024, 1, 1))
    day = daily("BTCUSDT", D(2024, 2, 1))
    held = ingested(month, day, status=FileStatus.QUARANTINED)
    catalog = [month, *(daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 32)), day]
    plan = plan_sync(catalog, held, D(2024, 1, 1), D(2024, 2, 1), retry_quarantined=True)
    assert [(p.key, p.reason) for p in plan.fetch] == [
        (month.key, Reason.RETRY_QUARANTINED),
        (day.key, Reason.RETRY_QUARANTINED),
    ]
    assert plan.quarantined == () and plan.unavailable == {}
    # A changed upstream object is fetched again without being asked, as before.
    plan = plan_sync([daily("BTCUSDT", D(2024, 2, 1), etag="new")], held, D(2024, 2, 1), D(2024, 2, 1))
    assert [p.reason for p in plan.fetch] == [Reason.CHANGED]


def test_unfinished_and_failed_files_are_planned_again() -> None:
    entry = daily("BTCUSDT", D(2024, 3, 1))
    for status in (FileStatus.PLANNED, FileStatus.DOWNLOADED, FileStatus.FAILED):
        plan = plan_sync([entry], ingested(entry, status=status), D(2024, 3, 1), D(2024, 3, 1))
        assert [p.reason for p in plan.fetch] == [Reason.UNFINISHED]


def test_missing_days_are_reported_within_the_series_life_only() -> None:
    catalog = [daily("BTCUSDT", D(2024, 3, d)) for d in (1, 2, 4, 5)]
    plan = plan_sync(catalog, {}, D(2024, 2, 1), D(2024, 3, 31))
    assert plan.unavailable == {("um", "klines", "1h", "BTCUSDT"): (D(2024, 3, 3),)}


@st.composite
def catalogs(draw: st.DrawFn) -> list[CatalogFile]:
    entries: list[CatalogFile] = []
    for symbol in draw(st.lists(st.sampled_from(["AUSDT", "BUSDT", "CUSDT"]), min_size=1, unique=True)):
        for month in (D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1)):
            if draw(st.booleans()):
                entries.append(monthly(symbol, month, etag=draw(st.sampled_from("xyz"))))
            last = 31 if month.month != 2 else 29
            for d in draw(st.sets(st.integers(1, last), max_size=6)):
                entries.append(daily(symbol, month.replace(day=d), etag=draw(st.sampled_from("xyz"))))
    return entries


@given(catalogs(), st.dates(D(2024, 1, 1), D(2024, 3, 31)), st.dates(D(2024, 1, 1), D(2024, 3, 31)))
def test_planning_after_a_completed_sync_yields_nothing(
    catalog: list[CatalogFile], a: dt.date, b: dt.date
) -> None:
    first, last = min(a, b), max(a, b)
    plan = plan_sync(catalog, {}, first, last)
    done = ingested(*(p.entry for p in plan.fetch))
    again = plan_sync(catalog, done, first, last)
    assert again.is_empty
    assert again.held == len(plan.fetch)
    for series, days in plan.unavailable.items():
        covered = {d for p in plan.fetch if p.file.symbol == series[3] for d in p.file.days()}
        assert not covered.intersection(days)


# -- lost partitions -------------------------------------------------------------------------------------


def test_a_held_file_whose_partition_is_lost_is_planned_again_with_its_recorded_sha256() -> None:
    entry = monthly("BTCUSDT", D(2024, 1, 1))
    held = {entry.key: RecordedFile(entry.key, FileStatus.INGESTED, entry.etag, entry.size, 1, "ab12")}
    assert plan_sync([entry], held, D(2024, 1, 1), D(2024, 1, 31)).is_empty
    plan = plan_sync([entry], held, D(2024, 1, 1), D(2024, 1, 31), lost={entry.key: entry})
    assert [(p.key, p.reason, p.sha256) for p in plan.fetch] == [(entry.key, Reason.PARTITION_LOST, "ab12")]
    assert plan.held == 0


def test_every_writer_of_a_lost_partition_is_planned_even_outside_the_range() -> None:
    days = [daily("BTCUSDT", D(2024, 3, d)) for d in range(1, 9)]
    held = ingested(*days)
    # A daily update asks for the 8th; the month's partition was written from all eight files.
    plan = plan_sync(days, held, D(2024, 3, 8), D(2024, 3, 8), lost={e.key: e for e in days})
    assert sorted(p.key for p in plan.fetch) == sorted(e.key for e in days)
    assert {p.reason for p in plan.fetch} == {Reason.PARTITION_LOST}


def test_a_lost_file_that_changed_upstream_is_fetched_as_changed() -> None:
    entry = monthly("BTCUSDT", D(2024, 1, 1), etag="new")
    held = {entry.key: RecordedFile(entry.key, FileStatus.INGESTED, "old", entry.size, 1, "ab12")}
    plan = plan_sync([entry], held, D(2024, 1, 1), D(2024, 1, 31), lost={entry.key: entry})
    assert [(p.reason, p.sha256) for p in plan.fetch] == [(Reason.CHANGED, None)]


def test_lost_daily_files_of_a_month_whose_monthly_file_is_fetched_are_not_fetched_too() -> None:
    days = [daily("BTCUSDT", D(2024, 1, d)) for d in range(1, 4)]
    month = monthly("BTCUSDT", D(2024, 1, 1))
    plan = plan_sync(
        [month, *days], ingested(*days), D(2024, 1, 1), D(2024, 1, 31), lost={e.key: e for e in days}
    )
    assert [(p.key, p.reason) for p in plan.fetch] == [(month.key, Reason.NEW)]


@given(
    catalogs(), st.dates(D(2024, 1, 1), D(2024, 3, 31)), st.dates(D(2024, 1, 1), D(2024, 3, 31)), st.data()
)
def test_losing_held_files_plans_exactly_those_again(
    catalog: list[CatalogFile], a: dt.date, b: dt.date, data: st.DataObject
) -> None:
    first, last = min(a, b), max(a, b)
    done = ingested(*(p.entry for p in plan_sync(catalog, {}, first, last).fetch))
    by_key = {e.key: e for e in catalog if e.key in done}
    lost_keys = data.draw(st.sets(st.sampled_from(sorted(by_key))) if by_key else st.just(set()))
    plan = plan_sync(catalog, done, first, last, lost={k: by_key[k] for k in lost_keys})
    assert {p.key for p in plan.fetch} == lost_keys
    assert plan.held == len(done) - len(lost_keys)
