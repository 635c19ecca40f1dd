"""Lake partitions: normalising keeps one row per key (the last), sorted; merging A then B equals
normalising A+B; streamed writes equal in-memory ones whether or not the stream was sorted; and no failure
ever leaves a partial partition file visible."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.core.datasets import ColumnKind, DatasetSpec, get_dataset
from binance_lake.core.errors import ParseError, StorageError
from binance_lake.core.partitions import Partition
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage import parquet
from binance_lake.storage.parquet import (
    MergeResult,
    is_normalized,
    make_durable,
    merge_partition,
    normalize,
    read_partition,
    sort_columns,
    write_partition_stream,
    write_table_atomic,
)

UTC = dt.UTC
DAY = dt.date(2024, 3, 1)
PARTITIONS = {
    "trades": Partition("trades", Market.UM, None, "BTCUSDT", DAY),
    "klines": Partition("klines", Market.UM, Interval.M1, "BTCUSDT", DAY),
    "liquidationSnapshot": Partition("liquidationSnapshot", Market.CM, None, "BTCUSD_PERP", DAY),
    "bookDepth": Partition("bookDepth", Market.UM, None, "BTCUSDT", DAY),
}
NAMES = sorted(PARTITIONS)


def _value(kind: ColumnKind, partition: Partition, *, in_key: bool) -> st.SearchStrategy[Any]:
    """Small domains, so that duplicate keys and equal times are frequent. Key columns are never null."""
    if kind in (ColumnKind.EPOCH_TIME, ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE):
        first = dt.datetime(
            partition.first_day.year, partition.first_day.month, partition.first_day.day, tzinfo=UTC
        )
        days = (partition.last_day - partition.first_day).days + 1
        return st.integers(0, days * 24 - 1).map(lambda h: first + dt.timedelta(hours=h))
    if kind is ColumnKind.FLOAT:
        values = st.sampled_from([-5.0, -1.0, 0.5, 1.0, 2.25])
        return values if in_key else values | st.none()
    if kind is ColumnKind.INT:
        return st.integers(0, 15)
    if kind is ColumnKind.BOOL:
        return st.booleans()
    return st.sampled_from(["BUY", "SELL"])


def tables(name: str, *, max_size: int = 30) -> st.SearchStrategy[pa.Table]:
    partition = PARTITIONS[name]
    spec = partition.spec
    schema = spec.schema(partition.market)
    row = st.fixed_dictionaries(
        {
            c.name: _value(c.kind, partition, in_key=c.name in spec.unique_key)
            for c in spec.layout(partition.market).kept
        }
    )
    return st.lists(row, max_size=max_size).map(lambda rows: pa.Table.from_pylist(rows, schema=schema))


def _key(spec: DatasetSpec, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in spec.unique_key) if spec.unique_key else tuple(row.items())


def _sort_key(spec: DatasetSpec, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in sort_columns(spec))


def _expected_normalized(table: pa.Table, spec: DatasetSpec) -> list[dict[str, Any]]:
    """The specification, row by row in Python: last occurrence per key, then a stable sort."""
    rows = table.to_pylist()
    last: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(rows):
        last[_key(spec, row)] = index
    kept = [rows[i] for i in sorted(last.values())]
    return sorted(kept, key=lambda r: _sort_key(spec, r))


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --- normalize ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_normalize_keeps_the_last_row_of_each_key_sorted(name: str, data: st.DataObject) -> None:
    spec = PARTITIONS[name].spec
    table = data.draw(tables(name))
    result = normalize(table, spec)
    assert result.schema == table.schema
    assert result.to_pylist() == _expected_normalized(table, spec)
    keys = [_key(spec, r) for r in result.to_pylist()]
    assert len(keys) == len(set(keys)) == len({_key(spec, r) for r in table.to_pylist()})
    assert normalize(result, spec).equals(result), "idempotent"


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_is_normalized_never_accepts_an_unnormalized_table(name: str, data: st.DataObject) -> None:
    spec = PARTITIONS[name].spec
    table = data.draw(tables(name))
    if is_normalized(table, spec):
        assert table.to_pylist() == _expected_normalized(table, spec)


def test_a_sorted_unique_table_is_returned_without_copying() -> None:
    spec = get_dataset("klines")
    schema = spec.schema(Market.UM)
    rows = [
        {c: None for c in schema.names} | {"open_time": dt.datetime(2024, 3, 1, i, tzinfo=UTC)}
        for i in range(5)
    ]
    table = pa.Table.from_pylist(rows, schema=schema)
    assert normalize(table, spec) is table


def test_doubled_liquidation_rows_become_one() -> None:
    spec = get_dataset("liquidationSnapshot")
    schema = spec.schema(Market.CM)
    row = {
        "time": dt.datetime(2023, 6, 25, 1, 27, 51, 926000, tzinfo=UTC),
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "IOC",
        "original_quantity": 7.0,
        "price": 30741.3,
        "average_price": 30631.6,
        "order_status": "FILLED",
        "last_fill_quantity": 6.0,
        "accumulated_fill_quantity": 7.0,
    }
    assert normalize(pa.Table.from_pylist([row, row], schema=schema), spec).to_pylist() == [row]


# --- atomic files ----------------------------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def _klines(hours: range) -> pa.Table:
    schema = get_dataset("klines").schema(Market.UM)
    rows = [
        {c: None for c in schema.names}
        | {"open_time": dt.datetime(2024, 3, 1, tzinfo=UTC) + dt.timedelta(hours=h), "close": float(h)}
        for h in hours
    ]
    return pa.Table.from_pylist(rows, schema=schema)


def test_write_then_read_round_trips_with_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "2024-03.parquet"
    table = _klines(range(10))
    write_table_atomic(path, table)
    assert _files(tmp_path) == ["2024-03.parquet"]
    read = read_partition(path)
    assert read is not None and read.equals(table)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_reading_a_missing_partition_gives_none(tmp_path: Path) -> None:
    assert read_partition(tmp_path / "nothing.parquet") is None


def test_reading_a_corrupt_partition_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(StorageError, match=r"bad\.parquet"):
        read_partition(path)


def test_reading_does_not_add_hive_columns_from_the_path(tmp_path: Path) -> None:
    partition = PARTITIONS["klines"]
    merge_partition(tmp_path, partition, _klines(range(3)))
    read = read_partition(tmp_path / partition.path)
    assert read is not None and read.schema == partition.spec.schema(partition.market)


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "2024-03.parquet"
    old = _klines(range(3))
    write_table_atomic(path, old)

    def half_write(table: pa.Table, where: Path, **_: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(parquet.pq, "write_table", half_write)
    with pytest.raises(StorageError, match=r"2024-03\.parquet: disk full"):
        write_table_atomic(path, _klines(range(10)))
    monkeypatch.undo()
    assert _files(tmp_path) == ["2024-03.parquet"]
    read = read_partition(path)
    assert read is not None and read.equals(old)


def test_a_write_error_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(StorageError, match=r"file/x\.parquet"):
        write_table_atomic(blocker / "x.parquet", _klines(range(1)))


# --- merging ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_merge_of_a_then_b_equals_normalize_of_a_plus_b(
    name: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("lake")
    partition = PARTITIONS[name]
    spec = partition.spec
    a, b = data.draw(tables(name)), data.draw(tables(name))
    first = merge_partition(root, partition, a)
    second = merge_partition(root, partition, b)
    expected = normalize(pa.concat_tables([a, b]), spec)
    stored = read_partition(root / partition.path)
    assert stored is not None and stored.to_pylist() == expected.to_pylist()
    assert first.rows_before == 0 and first.rows_after == first.rows_added == normalize(a, spec).num_rows
    assert second.rows_before == first.rows_after and second.rows_after == expected.num_rows
    assert second.rows_added == expected.num_rows - first.rows_after
    assert [p.name for p in (root / partition.path).parent.iterdir()] == [partition.path.name]


def test_replace_days_drops_the_old_rows_of_those_days(tmp_path: Path) -> None:
    partition = Partition("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2024, 3, 1))
    merge_partition(tmp_path, partition, _klines(range(72)))  # 1..3 March
    replacement = _klines(range(24, 30))  # six hours of 2 March, re-uploaded
    result = merge_partition(tmp_path, partition, replacement, replace_days={dt.date(2024, 3, 2)})
    assert result == MergeResult(tmp_path / partition.path, 72, 54, 6, rows_dropped=24)
    stored = read_partition(tmp_path / partition.path)
    assert stored is not None
    hours = [
        (t - dt.datetime(2024, 3, 1, tzinfo=UTC)) // dt.timedelta(hours=1)
        for t in stored.column("open_time").to_pylist()
    ]
    assert hours == [*range(24), *range(24, 30), *range(48, 72)]


def test_new_rows_win_over_existing_rows_with_the_same_key(tmp_path: Path) -> None:
    partition = PARTITIONS["klines"]
    merge_partition(tmp_path, partition, _klines(range(3)))
    newer = _klines(range(1, 2)).set_column(4, "close", pa.array([99.0]))
    result = merge_partition(tmp_path, partition, newer)
    assert result.rows_added == 0
    stored = read_partition(tmp_path / partition.path)
    assert stored is not None and stored.column("close").to_pylist() == [0.0, 99.0, 2.0]


def test_rows_outside_the_partition_are_a_storage_error(tmp_path: Path) -> None:
    partition = Partition("trades", Market.UM, None, "BTCUSDT", dt.date(2024, 3, 2))
    table = pa.Table.from_pylist(
        [{"id": 1, "time": dt.datetime(2024, 3, 1, 23, 59, tzinfo=UTC)}],
        schema=partition.spec.schema(Market.UM),
    )
    with pytest.raises(StorageError, match="outside the partition"):
        merge_partition(tmp_path, partition, table)
    with pytest.raises(StorageError, match="outside the partition"):
        write_partition_stream(tmp_path, partition, table.to_batches(), partition.spec)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (dt.datetime(2024, 3, 2, tzinfo=UTC), True),  # the first microsecond of the day
        (dt.datetime(2024, 3, 2, 23, 59, 59, 999_999, tzinfo=UTC), True),  # its last
        (dt.datetime(2024, 3, 3, tzinfo=UTC), False),  # the next day's first
        (dt.datetime(2024, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC), False),  # the day before's last
    ],
)
def test_a_partitions_bounds_hold_to_the_microsecond(
    tmp_path: Path, moment: dt.datetime, inside: bool
) -> None:
    partition = Partition("trades", Market.UM, None, "BTCUSDT", dt.date(2024, 3, 2))
    table = pa.Table.from_pylist(
        [{"id": 1, "time": dt.datetime(2024, 3, 2, 12, tzinfo=UTC)}, {"id": 2, "time": moment}],
        schema=partition.spec.schema(Market.UM),
    )
    if inside:
        assert merge_partition(tmp_path, partition, table).rows_after == 2
    else:
        with pytest.raises(StorageError, match="outside the partition"):
            merge_partition(tmp_path, partition, table)


def test_rows_with_other_columns_are_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="do not match the lake schema"):
        merge_partition(tmp_path, PARTITIONS["klines"], pa.table({"open_time": [1]}))


# --- streaming ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_a_streamed_partition_equals_the_normalized_rows(
    name: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("lake")
    partition = PARTITIONS[name]
    spec = partition.spec
    table = data.draw(tables(name, max_size=60))
    chunk = data.draw(st.integers(1, 20))
    result = write_partition_stream(root, partition, table.to_batches(max_chunksize=chunk), spec)
    stored = read_partition(root / partition.path)
    expected = normalize(table, spec)
    assert stored is not None and stored.schema == spec.schema(partition.market)
    assert stored.to_pylist() == expected.to_pylist()
    assert result.rows_after == expected.num_rows


def _trades(ids: list[int]) -> pa.Table:
    spec = get_dataset("trades")
    start = dt.datetime(2024, 3, 1, tzinfo=UTC)
    rows = [{"id": i, "price": float(i), "time": start + dt.timedelta(seconds=i)} for i in ids]
    return pa.Table.from_pylist(rows, schema=spec.schema(Market.UM))


def test_a_sorted_stream_is_not_sorted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(parquet, "sort_file_out_of_core", lambda source, *a: calls.append(source) or 0)
    spec = get_dataset("trades")
    table = _trades(list(range(1000)))
    assert is_normalized(table, spec)
    result = write_partition_stream(tmp_path, PARTITIONS["trades"], table.to_batches(max_chunksize=64), spec)
    assert calls == [] and result.rows_after == 1000


def test_a_disorder_across_a_batch_boundary_is_sorted_out_of_core(tmp_path: Path) -> None:
    spec = get_dataset("trades")
    # Each batch is sorted; only the boundary between them is not.
    batches = [*_trades(list(range(100, 200))).to_batches(), *_trades(list(range(100))).to_batches()]
    result = write_partition_stream(tmp_path, PARTITIONS["trades"], batches, spec)
    stored = read_partition(result.path)
    assert stored is not None and stored.column("id").to_pylist() == list(range(200))
    assert _files(tmp_path) == ["2024-03-01.parquet"]


def test_a_stream_that_fails_leaves_the_old_partition_and_no_temporary(tmp_path: Path) -> None:
    spec = get_dataset("trades")
    partition = PARTITIONS["trades"]
    write_partition_stream(tmp_path, partition, _trades([1, 2, 3]).to_batches(), spec)

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _trades(list(range(10, 20))).to_batches()
        raise ParseError("BTCUSDT-trades-2024-03-01.zip: line 11 has 2 fields, expected 6")

    with pytest.raises(ParseError):
        write_partition_stream(tmp_path, partition, failing(), spec)
    assert _files(tmp_path) == ["2024-03-01.parquet"]
    stored = read_partition(tmp_path / partition.path)
    assert stored is not None and stored.column("id").to_pylist() == [1, 2, 3]


def test_a_stream_replaces_the_partition(tmp_path: Path) -> None:
    spec = get_dataset("trades")
    partition = PARTITIONS["trades"]
    write_partition_stream(tmp_path, partition, _trades([1, 2, 3]).to_batches(), spec)
    result = write_partition_stream(tmp_path, partition, _trades([5, 4]).to_batches(), spec)
    assert (result.rows_before, result.rows_after, result.rows_added, result.rows_dropped) == (3, 2, 2, 3)
    stored = read_partition(result.path)
    assert stored is not None and stored.column("id").to_pylist() == [4, 5]


def test_an_empty_stream_writes_an_empty_partition(tmp_path: Path) -> None:
    spec = get_dataset("trades")
    result = write_partition_stream(tmp_path, PARTITIONS["trades"], iter(()), spec)
    stored = read_partition(result.path)
    assert stored is not None and stored.num_rows == 0 and stored.schema == spec.schema(Market.UM)


def test_a_stream_of_another_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="aggTrades rows into a trades partition"):
        write_partition_stream(tmp_path, PARTITIONS["trades"], iter(()), get_dataset("aggTrades"))


def test_a_batch_written_without_fsyncs_is_made_durable_together(tmp_path: Path) -> None:
    """`durable=False` still renames atomically (nothing half-written visible); `make_durable` then fsyncs
    the files and their directories, skipping a file a later write of the batch replaced."""
    paths = [tmp_path / f"d{i % 3}" / f"{i}.parquet" for i in range(8)]
    table = pa.table({"x": [1, 2, 3]})
    for path in paths:
        write_table_atomic(path, table, durable=False)
    assert all(pq.read_table(p).equals(table) for p in paths)
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary left behind
    paths[0].unlink()
    make_durable([*paths, paths[1]])
    make_durable([])
