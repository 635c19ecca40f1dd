"""The rules as data: every rule of a dataset's families runs over a real partition of that dataset (through
the scan's own SQL) and flags nothing on rows that break nothing; thresholds are settable by name; the rules
table lists every rule once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.quality.rules import RULES, Family, families_of, resolve_rules, rules_table
from binance_lake.quality.scan import Group, scan_group

DATASETS = ["klines", "premiumIndexKlines", "aggTrades", "trades", "metrics", "fundingRate"]


def clean_rows(dataset: str) -> pa.Table:
    """Three rows an hour apart: flat prices, ids stepping by one, every value present."""
    schema = get_dataset(dataset).schema(Market.UM)
    times = [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in range(3)]
    columns: dict[str, pa.Array] = {}
    for field in schema:
        if pa.types.is_timestamp(field.type):
            columns[field.name] = pa.array(times, field.type)
        elif pa.types.is_integer(field.type):
            start = 8 if "interval" in field.name else 100
            columns[field.name] = pa.array(
                [start if "interval" in field.name else start + k for k in range(3)], field.type
            )
        elif pa.types.is_floating(field.type):
            columns[field.name] = pa.array([0.001 if "funding" in field.name else 1.0] * 3, field.type)
        elif pa.types.is_boolean(field.type):
            columns[field.name] = pa.array([True] * 3)
        else:
            columns[field.name] = pa.array(["x"] * 3, field.type)
    return pa.table(columns, schema=schema)


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_rule_runs_on_its_dataset_and_flags_nothing_clean(dataset: str, tmp_path: Path) -> None:
    spec = get_dataset(dataset)
    interval = Interval.H1 if spec.has_interval else None
    partition = Partition(dataset, Market.UM, interval, "AAAUSDT", dt.date(2024, 1, 1))
    path = tmp_path / partition.path
    path.parent.mkdir(parents=True)
    table = clean_rows(dataset)
    pq.write_table(table, path)
    day = pa.array([dt.date(2024, 1, 1)], pa.date32())
    held = pa.table({"symbol": ["AAAUSDT"], "first_day": day, "last_day": day})
    scan = scan_group(Group(Market.UM, dataset, interval, (str(path),)), RULES, held, root=str(tmp_path))
    assert scan.violations.num_rows == 0, scan.violations.to_pylist()
    assert scan.day_rows.column("rows").to_pylist() == [3]

    # The same rows twice: the duplicates rule (and, for ids, the continuity rule) says so.
    doubled = tmp_path / "doubled" / partition.path
    doubled.parent.mkdir(parents=True)
    pq.write_table(pa.concat_tables([table, table]), doubled)
    again = scan_group(
        Group(Market.UM, dataset, interval, (str(doubled),)), RULES, held, root=str(tmp_path / "doubled")
    )
    assert "duplicates" in set(again.violations.column("rule").to_pylist())


def test_families() -> None:
    assert Family.PRICES in families_of("klines") and Family.KLINES in families_of("klines")
    assert Family.PRICES not in families_of("premiumIndexKlines") and Family.BARS in families_of(
        "premiumIndexKlines"
    )
    assert families_of("aggTrades") == {Family.ANY, Family.AGG_TRADES}


def test_thresholds_by_name_and_unknown_names_refused() -> None:
    rules = resolve_rules({"outlier_move": 0.2})
    assert next(r for r in rules if r.name == "outlier_move").threshold == 0.2
    assert next(r for r in RULES if r.name == "outlier_move").threshold == 0.10
    with pytest.raises(UsageError, match="unknown quality rule typo"):
        resolve_rules({"typo": 1})
    table = rules_table()
    assert table.column("rule").to_pylist() == [r.name for r in RULES]
    assert len(set(table.column("rule").to_pylist())) == len(RULES)


def test_grid_gaps_inside_runs_at_their_edges_and_whole_empty_runs(tmp_path: Path) -> None:
    hour = dt.timedelta(hours=1)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    missing = {start + i * hour for i in (0, 1, 2, 36, 70, 71)}  # leading edge, inside, trailing edge
    times = [start + i * hour for i in range(72) if start + i * hour not in missing]
    table = clean_rows("klines").slice(0, 1).take([0] * len(times))
    table = table.set_column(0, "open_time", pa.array(times, table.schema.field("open_time").type))
    partition = Partition("klines", Market.UM, Interval.H1, "AAAUSDT", dt.date(2024, 1, 1))
    path = tmp_path / partition.path
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    days = [dt.date(2024, 1, 1), dt.date(2024, 1, 5)]
    held = pa.table(
        {
            "symbol": ["AAAUSDT"] * 2,
            "first_day": pa.array(days),
            "last_day": pa.array([dt.date(2024, 1, 3), days[1]]),
        }
    )
    scan = scan_group(Group(Market.UM, "klines", Interval.H1, (str(path),)), RULES, held, root=str(tmp_path))
    found = [(g["gap_start"], g["bars"]) for g in scan.bar_gaps.to_pylist()]
    assert found == [
        (start, 3),
        (start + 36 * hour, 1),
        (start + 70 * hour, 2),
        (dt.datetime(2024, 1, 5, tzinfo=dt.UTC), 24),  # a held run with no bar at all
    ]


def id_rows(dataset: str, days_ids: list[tuple[dt.date, list[int]]]) -> pa.Table:
    """Rows of `dataset` (aggTrades or trades) at noon-ish of each day with the given ids, one trade each."""
    schema = get_dataset(dataset).schema(Market.UM)
    rows = []
    for day, ids in days_ids:
        for k, ident in enumerate(ids):
            when = dt.datetime.combine(day, dt.time(12, 0, k), dt.UTC)
            if dataset == "aggTrades":
                rows.append({"agg_trade_id": ident, "price": 1.0, "quantity": 1.0, "first_trade_id": ident,
                             "last_trade_id": ident, "transact_time": when, "is_buyer_maker": True})  # fmt: skip
            else:
                rows.append({"id": ident, "price": 1.0, "qty": 1.0, "quote_qty": 1.0, "time": when,
                             "is_buyer_maker": True})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


@pytest.mark.parametrize("dataset", ["aggTrades", "trades"])
def test_ids_run_on_across_consecutive_days_and_a_hole_there_is_found(dataset: str, tmp_path: Path) -> None:
    rule = "agg_id_continuity" if dataset == "aggTrades" else "trade_id_continuity"
    d1, d2, d4 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 4)
    cases = {
        "continuous": ([(d1, [1, 2, 3]), (d2, [4, 5])], set()),
        "hole at the boundary": ([(d1, [1, 2, 3]), (d2, [7, 8])], {d2}),
        "a day between (its own gap), ids jump": ([(d1, [1, 2, 3]), (d4, [40, 41])], set()),
        "overlap across days": ([(d1, [1, 2, 3]), (d2, [3, 4])], {d2}),
    }
    for name, (days_ids, flagged) in cases.items():
        root = tmp_path / name.replace(" ", "-")
        partition = Partition(dataset, Market.UM, None, "AAAUSDT", d1)
        path = root / partition.path
        path.parent.mkdir(parents=True)
        pq.write_table(id_rows(dataset, days_ids), path)
        held = pa.table({"symbol": ["AAAUSDT"], "first_day": pa.array([d1]), "last_day": pa.array([d4])})
        scan = scan_group(Group(Market.UM, dataset, None, (str(path),)), RULES, held, root=str(root))
        found = {v["day"] for v in scan.violations.to_pylist() if v["rule"] == rule}
        assert found == flagged, name


def test_the_window_lags_only_what_a_rule_reads_of_the_previous_row() -> None:
    """The pass's window sorts every row it carries: bars lag their time and close (the grid steps, the
    duplicates and the outlier rule), not their day, which only the id rules compare."""
    from binance_lake.quality.scan import _pass_sql

    def lagged(dataset: str, interval: Interval | None) -> set[str]:
        sql = _pass_sql(Group(Market.UM, dataset, interval, ()), RULES, None, None)
        return {part.split('"')[1] for part in sql.split("lag(")[1:]}

    assert lagged("klines", Interval.H1) == {"ts", "close"}
    assert lagged("aggTrades", None) == {"day", "ts", "agg_trade_id", "last_trade_id"}  # not first_trade_id
    assert lagged("trades", None) == {"day", "ts", "id"}
    assert lagged("fundingRate", None) == {"ts", "funding_interval_hours"}


def test_the_scan_gives_each_file_its_footer_rows(tmp_path: Path) -> None:
    """The scan is the one open of each file: the rows of every file it read come back with the scan, by
    lake-relative path, for the integrity check to compare with the records."""
    paths = []
    for month, rows in ((1, 3), (2, 2)):
        partition = Partition("klines", Market.UM, Interval.H1, "AAAUSDT", dt.date(2024, month, 1))
        path = tmp_path / partition.path
        path.parent.mkdir(parents=True, exist_ok=True)
        table = clean_rows("klines").slice(0, rows)
        shifted = pa.array(
            [t.replace(month=month) for t in table.column("open_time").to_pylist()],
            table.schema.field("open_time").type,
        )
        pq.write_table(table.set_column(0, "open_time", shifted), path)
        paths.append(path)
    held = pa.table(
        {"symbol": ["AAAUSDT"], "first_day": [dt.date(2024, 1, 1)], "last_day": [dt.date(2024, 2, 29)]}
    )
    scan = scan_group(
        Group(Market.UM, "klines", Interval.H1, tuple(str(p) for p in reversed(paths))),
        RULES,
        held,
        root=str(tmp_path),
    )
    got = dict(
        zip(scan.file_rows.column("path").to_pylist(), scan.file_rows.column("rows").to_pylist(), strict=True)
    )
    assert got == {str(p.relative_to(tmp_path)): pq.ParquetFile(p).metadata.num_rows for p in paths}
    # Per day as well, each under its own file (the pass names files by their index in the list).
    days = {(r["path"], r["day"]): r["rows"] for r in scan.day_rows.to_pylist()}
    assert days == {
        (str(paths[0].relative_to(tmp_path)), dt.date(2024, 1, 1)): 3,
        (str(paths[1].relative_to(tmp_path)), dt.date(2024, 2, 1)): 2,
    }
