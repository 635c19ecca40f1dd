"""Sync against the simulator: every good file lands verified and equal to the universe's ground truth,
quirks come out normalised, the corrupt file is quarantined and reported, re-uploads and newly published
monthly files replace what the lake held, faults change nothing in the final tables, and planning right
after a completed sync yields an empty plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import LakeLocked, Stalled
from binance_lake.core.partitions import TABLES_DIR
from binance_lake.core.progress import Phase, ProgressEvent
from binance_lake.core.timerange import UTC, iter_days
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.executor import INTERRUPTED
from binance_lake.engine.sync import SyncReport, SyncRequest
from binance_lake.lake import Lake
from binance_lake.sim import placement
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase, WriterLock
from tests.engine.test_sync_catalog_sim import listed_for

D = dt.date
MakeSim = Callable[..., SimServer]


def lake_on(server: SimServer, root: Path) -> Lake:
    return Lake(settings=server.settings(root))


def series_dir(root: Path, dataset: str, market: str, symbol: str, interval: str | None) -> Path:
    path = root / TABLES_DIR / dataset / f"market={market}"
    if interval is not None:
        path = path / f"interval={interval}"
    return path / f"symbol={symbol}"


def lake_table(
    root: Path, dataset: str, symbol: str, interval: str | None = None, market: str = "um"
) -> pa.Table:
    """Every partition of one series, in partition order (partitions are sorted inside)."""
    files = sorted(series_dir(root, dataset, market, symbol, interval).glob("*.parquet"))
    assert files, f"no partitions of {dataset}/{symbol}"
    return pa.concat_tables([pq.read_table(f) for f in files])


def truth(
    server: SimServer,
    dataset: str,
    symbol: str,
    first: D,
    last: D,
    interval: Interval | None = None,
    market: Market = Market.UM,
) -> pa.Table:
    """The simulator's clean ground truth for these days: sorted, unique, no archive quirk applied."""
    tables = [server.universe.day_table(market, dataset, symbol, interval, d) for d in iter_days(first, last)]
    return pa.concat_tables(tables)


def states(root: Path) -> dict[str, tuple[str, str | None, str | None]]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        rows = connection.execute("SELECT key, status, checksum, error FROM file_state").fetchall()
    return {key: (status, checksum, error) for key, status, checksum, error in rows}


def all_tables(root: Path) -> dict[str, pa.Table]:
    """Every partition of the lake by its path relative to the root."""
    return {
        str(p.relative_to(root)): pq.read_table(p) for p in sorted((root / TABLES_DIR).rglob("*.parquet"))
    }


# -- every good file lands verified ---------------------------------------------------------------------


def test_every_file_lands_verified_and_equal_to_the_ground_truth(make_sim: MakeSim, tmp_path: Path) -> None:
    sim_server = make_sim(now=dt.datetime(2024, 3, 12, 12, tzinfo=UTC))
    lake = lake_on(sim_server, tmp_path)
    # January and February come as monthly files, March 1-10 as daily ones.
    report = lake.sync(
        datasets="klines,fundingRate",
        symbols="BTCUSDT,ETHUSDT",
        intervals="1h",
        start="2024-01-20",
        end="2024-03-10",
    )
    assert report.ok and report.execution is not None
    cadences = {p.file.cadence for p in report.plan.fetch}
    assert cadences == {Cadence.MONTHLY, Cadence.DAILY}
    recorded = states(tmp_path)
    assert set(recorded) == {p.key for p in report.plan.fetch}
    assert {status for status, _, _ in recorded.values()} == {"ingested"}
    assert {checksum for _, checksum, _ in recorded.values()} == {"verified"}
    assert report.execution.ingested == len(report.plan.fetch)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        # The monthly file holds all of January; days before `start` are the month's partition too.
        held = lake_table(tmp_path, "klines", symbol, "1h")
        assert held.equals(truth(sim_server, "klines", symbol, D(2024, 1, 1), D(2024, 3, 10), Interval.H1))
        # Funding comes in monthly files only, and March's is not published yet.
        funding = lake_table(tmp_path, "fundingRate", symbol)
        assert funding.equals(truth(sim_server, "fundingRate", symbol, D(2024, 1, 1), D(2024, 2, 29)))


def test_a_missing_upstream_day_is_reported_not_fetched(sim_server: SimServer, tmp_path: Path) -> None:
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "metrics"]
    report = lake_on(sim_server, tmp_path).sync(
        datasets="metrics",
        symbols=missing.symbol,
        start=missing.period - dt.timedelta(days=1),
        end=missing.period + dt.timedelta(days=1),
    )
    assert report.ok
    assert list(report.plan.unavailable.values()) == [(missing.period,)]
    assert len(report.plan.fetch) == 2


# -- quirks come out normalised --------------------------------------------------------------------------


def test_header_and_no_header_files_give_the_same_rows(make_sim: MakeSim, tmp_path: Path) -> None:
    # Before February 2023's monthly file is published, so its first days come as (header-less) daily files.
    server = make_sim(now=dt.datetime(2023, 2, 5, 12, tzinfo=UTC))
    dropped = sorted(f.period for f in placement.HEADER_DROPPED)
    forced = next(f for f in placement.HEADER_FORCED if f.cadence is Cadence.MONTHLY)
    lake = lake_on(server, tmp_path)
    report = lake.sync(
        datasets="klines", symbols="ETHUSDT", intervals="1h", start=forced.period, end=dropped[-1]
    )
    assert report.ok
    keys = {p.key for p in report.plan.fetch}
    assert forced.key in keys and {f.key for f in placement.HEADER_DROPPED} <= keys
    held = lake_table(tmp_path, "klines", "ETHUSDT", "1h")
    assert held.equals(truth(server, "klines", "ETHUSDT", forced.period, dropped[-1], Interval.H1))


def test_spot_microseconds_and_milliseconds_normalise_to_one_time_type(
    sim_server: SimServer, tmp_path: Path
) -> None:
    # Spot switched from ms to µs on 2025-01-01 (issue #386): both sides of the switch, one partition each.
    report = lake_on(sim_server, tmp_path).sync(
        market="spot",
        datasets="klines",
        symbols="BTCUSDT",
        intervals="1h",
        start="2024-12-30",
        end="2025-01-02",
    )
    assert report.ok
    held = lake_table(tmp_path, "klines", "BTCUSDT", "1h", market="spot")
    # Monthly files: the partitions hold the whole of December and January.
    expected = truth(
        sim_server, "klines", "BTCUSDT", D(2024, 12, 1), D(2025, 1, 31), Interval.H1, Market.SPOT
    )
    assert held.equals(expected)
    assert held.schema.field("open_time").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    "quirk", [placement.DUPLICATED, placement.UNORDERED], ids=["duplicated", "unordered"]
)
def test_duplicated_and_unordered_tick_files_come_out_unique_and_sorted(
    sim_server: SimServer, tmp_path: Path, quirk: frozenset[ArchiveFile]
) -> None:
    (file,) = quirk
    report = lake_on(sim_server, tmp_path).sync(
        datasets=file.dataset, symbols=file.symbol, start=file.period, end=file.period + dt.timedelta(days=2)
    )
    assert report.ok and [p.key for p in report.plan.fetch] == [file.key]
    held = lake_table(tmp_path, file.dataset, file.symbol)
    assert held.equals(truth(sim_server, file.dataset, file.symbol, file.period, file.last_day))


# -- failures: quarantine ------------------------------------------------------------------


def test_a_wrong_checksum_is_quarantined_reported_and_not_retried(
    sim_server: SimServer, tmp_path: Path
) -> None:
    (bad,) = placement.WRONG_CHECKSUMS
    lake = lake_on(sim_server, tmp_path)
    kwargs = {
        "datasets": bad.dataset,
        "symbols": bad.symbol,
        "start": bad.period - dt.timedelta(days=1),
        "end": bad.period + dt.timedelta(days=1),
    }
    before = sim_server.stats.per_url[f"GET /{bad.key}"]
    report = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert not report.ok and report.execution is not None
    (failure,) = report.execution.failures
    assert failure.key == bad.key and failure.quarantined and ".CHECKSUM" in failure.error
    # Counted once, as quarantined (the summary's "failed" lists only failures a later sync retries).
    assert report.summary()["quarantined"] == [{"key": bad.key, "error": failure.error}]
    assert report.summary()["failed"] == []
    assert sim_server.stats.per_url[f"GET /{bad.key}"] - before == 2  # verified twice, then given up
    recorded = states(tmp_path)
    assert recorded[bad.key][0] == "quarantined" and recorded[bad.key][2] == failure.error
    assert sorted(s for s, _, _ in recorded.values()) == ["ingested", "ingested", "quarantined"]
    # The quarantined day is not in the lake; its neighbours are.
    days = {t.date() for t in lake_table(tmp_path, bad.dataset, bad.symbol).column(0).to_pylist()}
    assert bad.period not in days and bad.period - dt.timedelta(days=1) in days

    again = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert again.ok and again.plan.is_empty and again.plan.quarantined == (bad.key,)
    assert sim_server.stats.per_url[f"GET /{bad.key}"] - before == 2


# -- upstream changes ----------------------------------------------------------------------------------


def test_a_reupload_is_fetched_again_and_its_partition_rebuilt(make_sim: MakeSim, tmp_path: Path) -> None:
    (file, moment) = max(placement.REUPLOADS.items(), key=lambda kv: kv[1])
    server = make_sim(now=moment - dt.timedelta(days=1))
    lake = lake_on(server, tmp_path)
    kwargs = {
        "datasets": "klines",
        "symbols": file.symbol,
        "intervals": "1h",
        "start": file.period,
        "end": file.period + dt.timedelta(days=1),
    }
    lake.sync(**kwargs)  # type: ignore[arg-type]
    first = lake_table(tmp_path, "klines", file.symbol, "1h")
    expected = truth(
        server, "klines", file.symbol, file.period, file.period + dt.timedelta(days=1), Interval.H1
    )
    assert first.num_rows < expected.num_rows  # the first upload stopped early

    server.universe.clock.set(moment + dt.timedelta(hours=1))
    report = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert [(p.key, p.reason.value) for p in report.plan.fetch] == [(file.key, "changed upstream")]
    assert lake_table(tmp_path, "klines", file.symbol, "1h").equals(expected)
    assert lake.sync(**kwargs, dry_run=True).plan.is_empty  # type: ignore[arg-type]


def test_a_month_held_as_daily_files_is_replaced_by_its_monthly_file(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    server = make_sim(now=dt.datetime(2024, 2, 4, 12, tzinfo=UTC))  # January's monthly file comes on Feb 5
    lake = lake_on(server, tmp_path)
    kwargs = {
        "datasets": "klines,markPriceKlines",
        "symbols": "BTCUSDT",
        "intervals": "1h",
        "start": "2024-01-01",
        "end": "2024-01-31",
    }
    daily = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert daily.ok and {p.file.cadence for p in daily.plan.fetch} == {Cadence.DAILY}
    before = all_tables(tmp_path)

    server.universe.clock.set(dt.datetime(2024, 2, 6, 12, tzinfo=UTC))
    monthly = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert monthly.ok and {p.file.cadence for p in monthly.plan.fetch} == {Cadence.MONTHLY}
    assert len(monthly.plan.fetch) == 2
    after = all_tables(tmp_path)
    assert after.keys() == before.keys() and all(after[k].equals(before[k]) for k in before)
    recorded = states(tmp_path)
    assert {s for k, (s, _, _) in recorded.items() if "/daily/" in k} == {"superseded"}
    assert {s for k, (s, _, _) in recorded.items() if "/monthly/" in k} == {"ingested"}
    assert lake.sync(**kwargs, dry_run=True).plan.is_empty  # type: ignore[arg-type]


def provenance(root: Path) -> dict[tuple[str, D], tuple[str, str, str | None, int | None]]:
    """day_provenance by (path, day): source, upstream key, ETag, rows."""
    with LakeDatabase(root).connect(read_only=True) as connection:
        rows = connection.execute(
            'SELECT path, day, source, upstream_ref, etag, "rows" FROM day_provenance'
        ).fetchall()
    return {(path, day): (source, ref, etag, n) for path, day, source, ref, etag, n in rows}


def test_a_month_synced_as_daily_files_flips_to_archive_monthly_when_its_monthly_file_replaces_them(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    server = make_sim(now=dt.datetime(2024, 2, 4, 12, tzinfo=UTC))  # January's monthly file comes on Feb 5
    lake = lake_on(server, tmp_path)
    kwargs = {"datasets": "klines", "symbols": "BTCUSDT", "intervals": "1h", "start": "2024-01-01"}
    lake.sync(**kwargs, end="2024-01-31")  # type: ignore[arg-type]
    path = f"{TABLES_DIR}/klines/market=um/interval=1h/symbol=BTCUSDT/2024-01.parquet"
    january = list(iter_days(D(2024, 1, 1), D(2024, 1, 31)))
    daily = provenance(tmp_path)
    assert set(daily) == {(path, d) for d in january}
    for (_, day), (source, ref, etag, rows) in daily.items():
        assert source == "archive_daily" and ref.endswith(f"BTCUSDT-1h-{day.isoformat()}.zip")
        assert etag is not None and rows == 24

    server.universe.clock.set(dt.datetime(2024, 2, 6, 12, tzinfo=UTC))
    lake.sync(**kwargs, end="2024-02-01")  # type: ignore[arg-type]
    monthly = provenance(tmp_path)
    february = f"{TABLES_DIR}/klines/market=um/interval=1h/symbol=BTCUSDT/2024-02.parquet"
    assert set(monthly) == {(path, d) for d in january} | {(february, D(2024, 2, 1))}
    key = "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    assert {monthly[(path, d)][:2] for d in january} == {("archive_monthly", key)}
    assert monthly[(february, D(2024, 2, 1))][0] == "archive_daily"  # February has no monthly file yet
    assert sum(monthly[(path, d)][3] or 0 for d in january) == pq.read_table(tmp_path / path).num_rows


# -- faults ---------------------------------------------------------------------------------------------

# Corruption on the zips and their .CHECKSUMs only (a damaged listing page would be another story). The
# simulator damages different bytes on each request, as the network does, so no file is quarantined.
FAULTS = "5xx=0.08,reset=0.05,truncate=0.05,429=0.04,retry_after=1; corrupt=0.1@*.zip; corrupt=0.1@*.CHECKSUM"


def test_faults_change_nothing_in_the_final_tables(
    sim_server: SimServer, make_sim: MakeSim, tmp_path: Path
) -> None:
    kwargs = {
        "datasets": "klines,fundingRate,metrics",
        "symbols": "BTCUSDT,ETHUSDT",
        "intervals": "1h",
        "start": "2024-02-25",
        "end": "2024-03-06",
    }
    clean = lake_on(sim_server, tmp_path / "clean").sync(**kwargs)  # type: ignore[arg-type]
    assert clean.ok
    faulty_server = make_sim(faults=FAULTS)
    faulty = lake_on(faulty_server, tmp_path / "faulty").sync(**kwargs)  # type: ignore[arg-type]
    assert faulty.ok, faulty.summary()["failed"]
    assert set(faulty_server.stats.faults) == {"5xx", "reset", "truncate", "429", "corrupt"}
    expected, got = all_tables(tmp_path / "clean"), all_tables(tmp_path / "faulty")
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].equals(expected[name]), name


# -- one writer -----------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_a_clear_message(sim_server: SimServer, tmp_path: Path) -> None:
    lake = lake_on(sim_server, tmp_path)
    with WriterLock(tmp_path), pytest.raises(LakeLocked, match=r"another binance-lake process .* is writing"):
        lake.sync(datasets="fundingRate", symbols="BTCUSDT", start="2024-01-01", end="2024-01-02")
    assert not (tmp_path / TABLES_DIR).exists()


def test_dry_run_plans_files_and_bytes_and_writes_nothing(sim_server: SimServer, tmp_path: Path) -> None:
    # A dry run plans from the catalog as it is (issue 9 item 16): list first, then plan.
    lake = lake_on(sim_server, tmp_path)
    listed_for(
        sim_server,
        lake.database,
        SyncRequest(Market.UM, ("klines",), D(2026, 11, 1), D(2026, 11, 3), (Interval.H1,), ("BTCUSDT",)),
    )
    listed = (tmp_path / "lake.duckdb").read_bytes()
    report = lake.sync(
        datasets="klines",
        symbols="BTCUSDT",
        intervals="1h",
        start="2026-11-01",
        end="2026-11-03",
        dry_run=True,
    )
    assert report.execution is None and len(report.plan.fetch) == 3 and report.plan.bytes > 0
    assert not (tmp_path / TABLES_DIR).exists() and (tmp_path / "lake.duckdb").read_bytes() == listed


# -- property: nothing left to do after a sync ----------------------------------------------------------

UM_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    symbols=st.lists(st.sampled_from(UM_SYMBOLS), min_size=1, max_size=2, unique=True),
    datasets=st.lists(
        st.sampled_from(("klines", "markPriceKlines", "fundingRate", "metrics")),
        min_size=1,
        max_size=2,
        unique=True,
    ),
    start=st.dates(D(2023, 12, 20), D(2024, 3, 20)),
    days=st.integers(0, 40),
)
def test_planning_right_after_a_sync_yields_an_empty_plan(
    sim_server: SimServer, symbols: list[str], datasets: list[str], start: D, days: int
) -> None:
    with tempfile.TemporaryDirectory() as root:
        lake = lake_on(sim_server, Path(root))
        kwargs = {
            "datasets": datasets,
            "symbols": symbols,
            "intervals": "1h",
            "start": start,
            "end": start + dt.timedelta(days=days),
        }
        first: SyncReport = lake.sync(**kwargs)  # type: ignore[arg-type]
        assert first.ok
        again = lake.sync(**kwargs, dry_run=True)  # type: ignore[arg-type]
        assert again.plan.is_empty and again.plan.held == len(first.plan.fetch)


def test_a_disk_failure_is_a_failure_to_retry_not_a_quarantine(sim_server: SimServer, tmp_path: Path) -> None:
    request = {
        "market": "um",
        "datasets": "fundingRate",
        "symbols": "BTCUSDT",
        "start": "2026-08-01",
        "end": "2026-09-30",
    }
    lake = Lake(settings=sim_server.settings(tmp_path))
    (tmp_path / TABLES_DIR).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / TABLES_DIR).write_text("not a directory")  # every partition write fails
    broken = lake.sync(**request)  # type: ignore[arg-type]
    assert not broken.ok
    assert broken.execution is not None
    assert all(not f.quarantined for f in broken.execution.failures)
    with LakeDatabase(tmp_path).connect() as connection:
        states = {s for (s,) in connection.execute("SELECT status FROM file_state").fetchall()}
    assert states == {"failed"}
    (tmp_path / TABLES_DIR).unlink()
    again = lake.sync(**request)  # type: ignore[arg-type]
    assert again.ok and again.execution is not None and again.execution.ingested == 2


# -- a server that dies or hangs mid-run ----------------------------------------------------------------

STALL_KWARGS = {
    "datasets": "metrics",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2024-02-01",
    "end": "2024-02-20",
    "concurrency": 2,
}


def impatient(server: SimServer, root: Path, seconds: float = 1.5) -> Lake:
    return Lake(settings=dataclasses.replace(server.settings(root), stall_timeout=seconds))


def test_a_sync_whose_server_dies_stops_within_the_stall_timeout_and_the_next_run_resumes(
    sim_server: SimServer, make_sim: MakeSim, tmp_path: Path
) -> None:
    dying = make_sim()
    stopping: list[threading.Thread] = []

    def kill_after_a_few_files(event: ProgressEvent) -> None:
        if event.phase is Phase.SYNC and event.done >= 3 and not stopping:
            stopping.append(threading.Thread(target=dying.stop))
            stopping[0].start()

    started = time.monotonic()
    with pytest.raises(Stalled) as caught:
        impatient(dying, tmp_path).sync(**STALL_KWARGS, progress=kill_after_a_few_files)  # type: ignore[arg-type]
    assert time.monotonic() - started < 30  # not forever: the breaker no longer pauses without bound
    assert caught.value.host == f"127.0.0.1:{dying.port}" and "--stall-timeout" in str(caught.value)
    recorded = states(tmp_path)
    assert "quarantined" not in {s for s, _, _ in recorded.values()}
    interrupted = {k for k, (s, _, e) in recorded.items() if s == "failed" and e == INTERRUPTED}
    assert interrupted and {s for s, _, _ in recorded.values()} <= {
        "planned",
        "downloaded",
        "ingested",
        "failed",
    }

    # The next run (the server is back) completes the lake, reusing the files verified before the stop.
    verified = {k for k, (s, _, _) in recorded.items() if s == "downloaded"}
    assert verified
    before = {k: sim_server.stats.per_url[f"GET /{k}"] for k in verified}
    resumed = lake_on(sim_server, tmp_path).sync(**STALL_KWARGS)  # type: ignore[arg-type]
    assert resumed.ok and interrupted <= {p.key for p in resumed.plan.fetch}
    assert {k: sim_server.stats.per_url[f"GET /{k}"] for k in verified} == before
    uninterrupted = lake_on(sim_server, tmp_path / "uninterrupted").sync(**STALL_KWARGS)  # type: ignore[arg-type]
    assert uninterrupted.ok
    expected, got = all_tables(tmp_path / "uninterrupted"), all_tables(tmp_path)
    assert got.keys() == expected.keys() and all(got[k].equals(expected[k]) for k in expected)


def test_a_hung_server_ends_the_sync_with_stalled(make_sim: MakeSim, tmp_path: Path) -> None:
    hung = make_sim(faults="stall=1,stall_seconds=60@*/metrics/*")  # listings answer, files never do
    started = time.monotonic()
    with pytest.raises(Stalled, match=rf"no answer from 127\.0\.0\.1:{hung.port} for 1\.5 s"):
        impatient(hung, tmp_path).sync(**STALL_KWARGS)  # type: ignore[arg-type]
    assert time.monotonic() - started < 15
    recorded = states(tmp_path)
    assert recorded and {s for s, _, _ in recorded.values()} <= {"planned", "failed"}
    assert sum(e == INTERRUPTED for _, _, e in recorded.values()) == 2  # the two in flight (--concurrency 2)


# -- transient corruption never quarantines; permanent corruption does, and is retried when it may pass --

CORRUPT_KWARGS = {
    "datasets": "metrics",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2024-02-01",
    "end": "2024-02-29",
}


def test_transient_corruption_is_retried_and_a_clean_sync_completes_the_lake(
    sim_server: SimServer, make_sim: MakeSim, tmp_path: Path
) -> None:
    # Damage in transit on half of the zip and .CHECKSUM requests: a file hit twice must not look upstream's.
    faulty = make_sim(faults="corrupt=0.5@*/metrics/*")
    first = lake_on(faulty, tmp_path / "lake").sync(**CORRUPT_KWARGS)  # type: ignore[arg-type]
    assert faulty.stats.faults["corrupt"] > 20 and first.execution is not None
    assert not [f.key for f in first.execution.failures if f.quarantined]
    assert "quarantined" not in {s for s, _, _ in states(tmp_path / "lake").values()}

    again = lake_on(sim_server, tmp_path / "lake").sync(**CORRUPT_KWARGS)  # type: ignore[arg-type]
    assert again.ok and again.plan.quarantined == () and again.plan.unavailable == {}
    clean = lake_on(sim_server, tmp_path / "clean").sync(**CORRUPT_KWARGS)  # type: ignore[arg-type]
    assert clean.ok
    expected, got = all_tables(tmp_path / "clean"), all_tables(tmp_path / "lake")
    assert got.keys() == expected.keys() and all(got[k].equals(expected[k]) for k in expected)


def test_a_permanently_corrupt_file_is_quarantined_listed_and_retried_when_it_may_pass(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    (file, moment) = max(placement.REUPLOADS.items(), key=lambda kv: kv[1])
    name = file.key.rsplit("/", 1)[1]
    kwargs = {
        "datasets": "klines",
        "symbols": file.symbol,
        "intervals": "1h",
        "start": file.period - dt.timedelta(days=1),
        "end": file.period + dt.timedelta(days=1),
    }
    broken = make_sim(now=moment - dt.timedelta(days=1), faults=f"corrupt_permanent=1@*/{name}")
    lake = lake_on(broken, tmp_path)
    url = f"GET /{file.key}"

    first = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert first.execution is not None and not first.ok
    (failure,) = first.execution.failures
    assert failure.key == file.key and failure.quarantined and "sha256" in failure.error
    assert broken.stats.per_url[url] == 2  # the same bytes failed twice on fresh downloads
    assert first.plan.unavailable == {}

    # Later syncs skip it but never call it missing upstream; status and problems list it.
    skipped = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert skipped.ok and skipped.plan.is_empty and skipped.plan.quarantined == (file.key,)
    assert skipped.plan.unavailable == {} and skipped.summary()["quarantined_skipped"] == [file.key]
    assert broken.stats.per_url[url] == 2
    (row,) = [r for r in lake.status(as_="arrow").to_pylist() if r["dataset"] == "klines"]
    assert row["files_quarantined"] == 1
    assert lake.problems(as_="arrow").to_pylist()[0]["key"] == file.key

    # --retry-quarantined fetches it once more: the recorded bytes fail again, so it stays quarantined.
    retried = lake.sync(**kwargs, retry_quarantined=True)  # type: ignore[arg-type]
    assert [(p.key, p.reason.value) for p in retried.plan.fetch] == [(file.key, "quarantined, retried")]
    assert broken.stats.per_url[url] == 3 and retried.execution is not None
    assert [f.quarantined for f in retried.execution.failures] == [True]

    # Upstream replaces the object (new ETag): it is fetched again without being asked.
    broken.universe.clock.set(moment + dt.timedelta(hours=1))
    changed = lake.sync(**kwargs)  # type: ignore[arg-type]
    assert [(p.key, p.reason.value) for p in changed.plan.fetch] == [(file.key, "changed upstream")]
    assert broken.stats.per_url[url] == 5  # new bytes, still damaged by this mirror: twice, then quarantined

    # Served clean again at the same ETag: only --retry-quarantined tries, and the lake becomes whole.
    fixed = make_sim(now=moment + dt.timedelta(hours=1))
    assert lake_on(fixed, tmp_path).sync(**kwargs).plan.quarantined == (file.key,)  # type: ignore[arg-type]
    healed = lake_on(fixed, tmp_path).sync(**kwargs, retry_quarantined=True)  # type: ignore[arg-type]
    assert healed.ok and [p.key for p in healed.plan.fetch] == [file.key]
    assert states(tmp_path)[file.key][0] == "ingested"
    expected = truth(
        fixed,
        "klines",
        file.symbol,
        file.period - dt.timedelta(days=1),
        file.period + dt.timedelta(days=1),
        Interval.H1,
    )
    assert lake_table(tmp_path, "klines", file.symbol, "1h").equals(expected)
