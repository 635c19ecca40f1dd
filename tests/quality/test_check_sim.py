"""`Lake.check` against the simulator: every quirk its manifest places is found and classified — the
exchange-wide maintenance windows as `maintenance`, the 404 day as `missing-file`, the never-matching checksum
as `quarantined`, the truncated-with-valid-checksum file as truncated (`day_rows_low`), the duplicated and the
unordered aggTrades months (`raw_duplicates`, `raw_unordered`) — and nothing else is flagged: the clean
symbols have no finding and no gap but the maintenance window."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake.core.timerange import UTC, iter_days
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.quality.run import CheckReport
from binance_lake.sim import placement
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer

D = dt.date
CLEAN = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
KLINES_MONTH = (D(2023, 3, 1), D(2023, 3, 31))  # holds the 2023-03-24 maintenance window


@pytest.fixture(scope="module")
def lake(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("checked")
    lake = Lake(settings=sim_server.settings(root))
    first, last = KLINES_MONTH
    assert lake.sync(datasets="klines", intervals="1h", symbols=CLEAN, start=first, end=last).ok
    for quirk in (placement.DUPLICATED, placement.UNORDERED, placement.TRUNCATED):
        (file,) = quirk
        assert lake.sync(datasets=file.dataset, symbols=file.symbol, start=file.period, end=file.last_day).ok
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "metrics"]
    day = dt.timedelta(days=1)
    assert lake.sync(
        datasets="metrics", symbols=missing.symbol, start=missing.period - day, end=missing.period + day
    ).ok
    (bad,) = placement.WRONG_CHECKSUMS
    report = lake.sync(datasets=bad.dataset, symbols=bad.symbol, start=bad.period - day, end=bad.period + day)
    assert report.summary()["quarantined"]
    yield lake


def now_of(server: SimServer) -> dt.datetime:
    return server.universe.clock.now()


def problems(report: CheckReport) -> list[dict[str, object]]:
    return [f for f in report.findings.to_pylist() if f["severity"] in ("error", "warning")]


def expected_maintenance_bars(manifest: Manifest, interval: Interval, first: D, last: D) -> set[dt.datetime]:
    """Open times of the bars a maintenance window removes: those lying wholly inside it."""
    step = interval.duration
    bars = set()
    for begin, end in manifest.maintenance_windows:
        if not first <= begin.date() <= last:
            continue
        t = dt.datetime.combine(begin.date(), dt.time(), UTC)
        while t < end:
            if t >= begin and t + step <= end:
                bars.add(t)
            t += step
    return bars


def test_the_maintenance_window_is_maintenance_and_the_clean_symbols_have_nothing_else(
    lake: Lake, sim_server: SimServer
) -> None:
    first, last = KLINES_MONTH
    report = lake.check(
        datasets="klines", symbols=CLEAN, start=first, end=last, deep=True, now=now_of(sim_server)
    )
    assert report.ok and problems(report) == [], problems(report)
    expected = expected_maintenance_bars(Manifest(sim_server.universe), Interval.H1, first, last)
    assert expected, "the month holds a maintenance window"
    gaps = report.gaps.to_pylist()
    assert {g["kind"] for g in gaps} == {"maintenance"}
    for symbol in CLEAN:
        starts = {g["start_time"] for g in gaps if g["symbol"] == symbol}
        missing = {
            g["start_time"] + dt.timedelta(hours=i)
            for g in gaps
            if g["symbol"] == symbol
            for i in range(g["bars"])
        }
        assert missing == expected and starts, symbol
    assert report.counts["partitions"] == len(CLEAN)


def test_one_symbol_missing_a_window_alone_is_upstream_not_maintenance(
    lake: Lake, sim_server: SimServer
) -> None:
    # With only one symbol trading nobody shares its hole: the exchange-wide signature is absent.
    first, last = KLINES_MONTH
    report = lake.check(datasets="klines", symbols="BTCUSDT", start=first, end=last, now=now_of(sim_server))
    assert {g["kind"] for g in report.gaps.to_pylist()} == {"upstream"}


def test_the_404_day_is_a_missing_file_gap(lake: Lake, sim_server: SimServer) -> None:
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "metrics"]
    day = dt.timedelta(days=1)
    report = lake.check(
        datasets="metrics", symbols=missing.symbol, start=missing.period - day, end=missing.period + day,
        now=now_of(sim_server),
    )  # fmt: skip
    gaps = [g for g in report.gaps.to_pylist() if g["bars"] is None]
    assert [(g["kind"], g["first_day"], g["last_day"]) for g in gaps] == [
        ("missing-file", missing.period, missing.period)
    ]
    assert lake.gaps(kind="missing-file", as_="arrow").num_rows == 1


def test_the_never_matching_checksum_is_a_quarantined_gap(lake: Lake, sim_server: SimServer) -> None:
    (bad,) = placement.WRONG_CHECKSUMS
    day = dt.timedelta(days=1)
    report = lake.check(
        datasets=bad.dataset, symbols=bad.symbol, start=bad.period - day, end=bad.period + day,
        now=now_of(sim_server),
    )  # fmt: skip
    days = [(g["kind"], g["first_day"], g["last_day"]) for g in report.gaps.to_pylist() if g["bars"] is None]
    assert days == [("quarantined", bad.period, bad.period)]
    quarantined = lake.gaps(kind="quarantined", symbols=bad.symbol, as_="arrow")
    assert quarantined.column("first_day").to_pylist() == [bad.period]


def truncated_days(server: SimServer) -> dict[D, int]:
    """The rows each day of the truncated file holds, from the universe's clean truth and the quirk's rule."""
    (file,) = placement.TRUNCATED
    full = {
        d: server.universe.day_table(Market.UM, file.dataset, file.symbol, None, d).num_rows
        for d in iter_days(file.first_day, file.last_day)
    }
    keep = int(sum(full.values()) * placement.TRUNCATED_KEEP)
    held: dict[D, int] = {}
    for d, n in full.items():
        held[d] = max(0, min(n, keep))
        keep -= held[d]
    return held


def test_the_truncated_file_with_a_valid_checksum_is_found_day_by_day(
    lake: Lake, sim_server: SimServer
) -> None:
    (file,) = placement.TRUNCATED
    report = lake.check(datasets=file.dataset, symbols=file.symbol, start=file.first_day, end=file.last_day,
                        now=now_of(sim_server))  # fmt: skip
    held = truncated_days(sim_server)
    median = statistics.median(n for n in held.values() if n)
    expected = {d for d, n in held.items() if n < 0.5 * median}
    flagged = {f["day"] for f in problems(report) if f["rule"] == "day_rows_low"}
    assert flagged == expected and len(expected) > 20
    assert {f["rule"] for f in problems(report)} == {"day_rows_low"}


@pytest.mark.parametrize(
    ("quirk", "rule"),
    [(placement.DUPLICATED, "raw_duplicates"), (placement.UNORDERED, "raw_unordered")],
    ids=["duplicated", "unordered"],
)
def test_the_duplicated_and_unordered_months_are_found_in_their_kept_raw_zips(
    lake: Lake, sim_server: SimServer, quirk: frozenset[object], rule: str
) -> None:
    (file,) = quirk
    report = lake.check(datasets="aggTrades", deep=True, now=now_of(sim_server))
    found = [f for f in problems(report) if f["rule"] == rule]
    assert [f["ref"] for f in found] == [file.key]  # type: ignore[attr-defined]
    # Without --deep the raw zips are only re-hashed: the lake's rows are clean, so nothing is flagged.
    shallow = lake.check(datasets="aggTrades", now=now_of(sim_server), end="2023-05-31")
    assert problems(shallow) == []


def test_the_whole_lake_has_exactly_the_placed_findings(lake: Lake, sim_server: SimServer) -> None:
    report = lake.check(deep=True, now=now_of(sim_server), end="2026-07-10")
    rules = {f["rule"] for f in problems(report)}
    assert rules == {"day_rows_low", "raw_duplicates", "raw_unordered"}, problems(report)
    (truncated,) = placement.TRUNCATED
    assert {f["symbol"] for f in problems(report) if f["rule"] == "day_rows_low"} == {truncated.symbol}
    assert report.counts["raw_zips"] > 0
    # Every gap is explained: the placed ones where they were placed, the rest never listed by the catalog.
    gaps = report.gaps.to_pylist()
    assert {g["kind"] for g in gaps} == {"maintenance", "missing-file", "quarantined", "unlisted"}
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "metrics"]
    (bad,) = placement.WRONG_CHECKSUMS
    placed = {"missing-file": missing, "quarantined": bad}
    for kind, file in placed.items():
        assert [(g["symbol"], g["first_day"], g["last_day"]) for g in gaps if g["kind"] == kind] == [
            (file.symbol, file.period, file.period)
        ]
    # Recorded: the last run's gaps are what `gaps` answers.
    assert lake.gaps(as_="arrow").num_rows == report.gaps.num_rows
    table = lake.gaps(kind=["maintenance"], as_="arrow")
    assert set(table.column("symbol").to_pylist()) == set(CLEAN)


def test_thresholds_come_from_the_settings(sim_server: SimServer, lake: Lake) -> None:
    import dataclasses

    strict = Lake(settings=dataclasses.replace(lake.settings, quality={"outlier_move": 1e-9}))
    first, last = KLINES_MONTH
    report = strict.check(datasets="klines", symbols="BTCUSDT", start=first, end=last, now=now_of(sim_server))
    moves = [f for f in problems(report) if f["rule"] == "outlier_move"]
    assert moves and all(f["threshold"] == 1e-9 for f in moves)


def test_an_unknown_rule_in_the_settings_is_one_sentence(lake: Lake) -> None:
    import dataclasses

    from binance_lake.core.errors import UsageError

    with pytest.raises(UsageError, match="unknown quality rule nosuch"):
        Lake(settings=dataclasses.replace(lake.settings, quality={"nosuch": 1.0})).check()


def test_findings_table_round_trips(lake: Lake, sim_server: SimServer) -> None:
    report = lake.check(datasets="trades", now=now_of(sim_server), end="2022-07-31")
    assert isinstance(report.findings, pa.Table) and report.findings.num_rows == len(problems(report))
    assert report.line().startswith(f"{report.findings.num_rows} warning")


def test_stray_files_under_tables_are_named(sim_server: SimServer, tmp_path: Path) -> None:
    lake = Lake(settings=sim_server.settings(tmp_path))
    assert lake.sync(
        datasets="klines", intervals="1d", symbols="BTCUSDT", start="2024-01-01", end="2024-01-31"
    ).ok
    series = tmp_path / "tables/klines/market=um/interval=1d/symbol=BTCUSDT"
    (series / ".2024-02.parquet.123.0123abcd.tmp").write_bytes(b"partial")
    (series / "2024-02.parquet").write_bytes((series / "2024-01.parquet").read_bytes())
    (series / "notes.txt").write_text("mine")
    report = lake.check(now=now_of(sim_server), end="2024-01-31")
    rules = sorted(f["rule"] for f in problems(report))
    assert rules == ["orphan_file", "temporary_file", "unknown_file"]
    assert all(f["repair"] for f in problems(report))


def test_a_delisted_symbols_days_after_its_last_trade_are_delisted(
    sim_server: SimServer, tmp_path: Path
) -> None:
    (xem,) = [s for s in Manifest(sim_server.universe).symbols(Market.UM) if s.symbol == "XEMUSDT"]
    assert xem.delisted is not None
    lake = Lake(settings=sim_server.settings(tmp_path))
    lake.catalog.refresh(markets="um", datasets="fundingRate")  # exchangeInfo says who is delisted
    end = xem.delisted + dt.timedelta(days=20)
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="XEMUSDT", start=xem.delisted.replace(day=1), end=end
    ).ok
    report = lake.check(datasets="klines", end=end, now=now_of(sim_server))
    assert problems(report) == []
    gaps = [(g["kind"], g["first_day"], g["last_day"]) for g in report.gaps.to_pylist()]
    assert gaps == [("delisted", xem.delisted + dt.timedelta(days=1), end)]


def test_days_inside_the_publication_lag_are_not_yet(make_sim: object, tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    server = make_sim(now=now)  # type: ignore[operator]
    lake = Lake(settings=server.settings(tmp_path))
    assert lake.sync(
        datasets="klines", intervals="1d", symbols="BTCUSDT", start="2026-11-15", end="2026-11-19"
    ).ok
    report = lake.check(end=now.date(), now=now)
    assert [(g["kind"], g["first_day"]) for g in report.gaps.to_pylist()] == [("not-yet", now.date())]
    assert problems(report) == []


def test_mark_and_last_prices_are_compared_bar_by_bar(sim_server: SimServer, tmp_path: Path) -> None:
    import dataclasses

    lake = Lake(settings=sim_server.settings(tmp_path))
    both = {"datasets": "klines,markPriceKlines", "intervals": "1h", "symbols": "BTCUSDT"}
    assert lake.sync(**both, start="2024-01-01", end="2024-01-31").ok  # type: ignore[arg-type]
    assert problems(lake.check(end="2024-01-31", now=now_of(sim_server))) == []
    strict = Lake(settings=dataclasses.replace(lake.settings, quality={"mark_divergence": 1e-9}))
    found = [
        f
        for f in problems(strict.check(end="2024-01-31", now=now_of(sim_server)))
        if f["rule"] == "mark_divergence"
    ]
    assert {f["day"] for f in found} == {
        D(2024, 1, d) for d in range(1, 32)
    }  # the simulator's mark differs a little
