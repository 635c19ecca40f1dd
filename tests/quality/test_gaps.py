"""Gap classification on hand-made inputs: the runs of missing days and the held days partition the scope
exactly (a property, over random held sets), each kind is chosen by its rule, and a missing window shared by
most trading symbols is maintenance."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.quality.gaps import bar_gaps, day_gaps
from binance_lake.quality.store import GAPS_SCHEMA

D = dt.date
START = D(2024, 1, 1)
TODAY = D(2024, 6, 1)
UTC = dt.UTC


def held_table(days: list[D], symbol: str = "AAAUSDT", dataset: str = "metrics") -> pa.Table:
    n = len(days)
    return pa.table(
        {
            "market": ["um"] * n,
            "dataset": [dataset] * n,
            "interval": pa.array([None] * n, pa.string()),
            "symbol": [symbol] * n,
            "day": pa.array(days, pa.date32()),
        }
    )


def upstream_table(rows: list[tuple[D, D]], symbol: str = "AAAUSDT") -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "key": [f"k{i}" for i in range(n)],
            "market": ["um"] * n,
            "dataset": ["metrics"] * n,
            "interval": pa.array([None] * n, pa.string()),
            "symbol": [symbol] * n,
            "cadence": ["daily"] * n,
            "first_day": pa.array([a for a, _ in rows], pa.date32()),
            "last_day": pa.array([b for _, b in rows], pa.date32()),
            "etag": ["e"] * n,
            "gone": [False] * n,
        }
    )


def lives_table(last: D | None = None, delisted: bool = False) -> pa.Table:
    return pa.table(
        {
            "market": ["um"],
            "symbol": ["AAAUSDT"],
            "first_day": pa.array([START], pa.date32()),
            "last_day": pa.array([last], pa.date32()),
            "delisted": [delisted],
        }
    )


def listed_table(first: D | None, last: D | None) -> pa.Table:
    return pa.table(
        {
            "prefix": ["data/futures/um/daily/metrics/AAAUSDT/"],
            "market": ["um"],
            "cadence": ["daily"],
            "dataset": ["metrics"],
            "symbol": ["AAAUSDT"],
            "interval": pa.array([None], pa.string()),
            "first_day": pa.array([first], pa.date32()),
            "last_day": pa.array([last], pa.date32()),
        }
    )


def files_table(quarantined: list[D] = ()) -> pa.Table:  # type: ignore[assignment]
    n = len(quarantined)
    return pa.table(
        {
            "market": ["um"] * n,
            "dataset": ["metrics"] * n,
            "interval": pa.array([None] * n, pa.string()),
            "symbol": ["AAAUSDT"] * n,
            "first_day": pa.array(list(quarantined), pa.date32()),
            "last_day": pa.array(list(quarantined), pa.date32()),
            "status": ["quarantined"] * n,
        }
    )


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(0, 60), min_size=1))
def test_gaps_and_held_days_partition_the_scope(offsets: set[int]) -> None:
    held = sorted(START + dt.timedelta(days=o) for o in offsets)
    gaps = day_gaps(
        held_table(held), upstream_table([]), lives_table(), files_table(), listed_table(None, None), first=START,
        last=START + dt.timedelta(days=60), today=TODAY,
    )  # fmt: skip
    missing: list[D] = []
    for row in gaps.to_pylist():
        missing += [
            row["first_day"] + dt.timedelta(days=i)
            for i in range((row["last_day"] - row["first_day"]).days + 1)
        ]
    assert len(missing) == len(set(missing))
    assert sorted([*missing, *held]) == [START + dt.timedelta(days=i) for i in range(61)]


def test_each_kind_by_its_rule() -> None:
    days = [D(2024, 5, d) for d in (1, 2, 4, 6, 8, 9)]
    gaps = day_gaps(
        held_table(days),
        upstream_table([(D(2024, 5, 1), D(2024, 5, 2)), (D(2024, 5, 5), D(2024, 5, 9))]),
        lives_table(last=D(2024, 5, 20), delisted=False),
        files_table([D(2024, 5, 7)]),
        listed_table(D(2024, 5, 1), D(2024, 5, 9)),
        first=D(2024, 5, 1),
        last=D(2024, 5, 31),
        today=D(2024, 5, 31),
    )
    kinds = [(g["kind"], g["first_day"].day, g["last_day"].day) for g in gaps.to_pylist()]
    assert kinds == [
        ("missing-file", 3, 3),  # listed, and no file covers it: a 404 day
        ("not-synced", 5, 5),  # listed, not held
        ("quarantined", 7, 7),
        ("unlisted", 10, 29),  # never listed
        ("not-yet", 30, 31),
    ]
    delisted = day_gaps(
        held_table(days), upstream_table([]), lives_table(last=D(2024, 5, 9), delisted=True), files_table(),
        listed_table(None, None), first=D(2024, 5, 1), last=D(2024, 5, 20), today=TODAY,
    )  # fmt: skip
    assert ("delisted", D(2024, 5, 10), D(2024, 5, 20)) in [
        (g["kind"], g["first_day"], g["last_day"]) for g in delisted.to_pylist()
    ]


def test_a_window_shared_by_most_trading_symbols_is_maintenance() -> None:
    window = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    other = dt.datetime(2024, 5, 1, 15, tzinfo=UTC)
    rows = [("AAA", window), ("BBB", window), ("CCC", window), ("AAA", other)]
    candidates = pa.table(
        {
            "market": ["um"] * 4,
            "dataset": ["klines"] * 4,
            "interval": ["1h"] * 4,
            "symbol": [s for s, _ in rows],
            "gap_start": pa.array([t for _, t in rows], pa.timestamp("us", tz="UTC")),
            "gap_end": pa.array([t for _, t in rows], pa.timestamp("us", tz="UTC")),
            "bars": [1] * 4,
        }
    )
    trading = pa.table(
        {
            "market": ["um"],
            "dataset": ["klines"],
            "interval": ["1h"],
            "day": pa.array([D(2024, 5, 1)]),
            "symbols": [4],
        }
    )
    gaps = bar_gaps(candidates, trading)
    assert gaps.schema == GAPS_SCHEMA
    kinds = {(g["symbol"], g["start_time"].hour): g["kind"] for g in gaps.to_pylist()}
    assert kinds == {("AAA", 12): "maintenance", ("BBB", 12): "maintenance", ("CCC", 12): "maintenance",
                     ("AAA", 15): "upstream"}  # fmt: skip

    def probe(table: pa.Table) -> list[bool | None]:
        return [True] * table.num_rows

    probed = bar_gaps(candidates, trading, probe)
    (upstream,) = [g for g in probed.to_pylist() if g["kind"] == "upstream"]
    assert "REST has them" in upstream["detail"]
