"""The exporters' seam: `by_symbol` regroups a (symbol, time)-sorted stream one symbol at a time, whatever
the batch boundaries; `runs` finds the runs of a sorted array; `write_atomic` and `write_files_atomic` replace
files whole; the lake's `SymbolStream` hands over the same rows per symbol as its batches hold."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import StorageError
from binance_lake.export.sink import by_symbol, runs, write_atomic, write_files_atomic
from binance_lake.load.stream import rebatch


@given(
    counts=st.lists(st.integers(min_value=1, max_value=30), min_size=0, max_size=6),
    batch_rows=st.integers(min_value=1, max_value=40),
)
def test_by_symbol_regroups_any_batching(counts: list[int], batch_rows: int) -> None:
    symbols = [f"S{i:02d}" for i in range(len(counts))]
    column = [s for s, n in zip(symbols, counts, strict=True) for _ in range(n)]
    table = pa.table({"symbol": column, "value": list(range(len(column)))})
    batches = list(rebatch(table.to_batches(max_chunksize=7), batch_rows))
    grouped = list(by_symbol(batches))
    assert [s for s, _ in grouped] == symbols
    for (symbol, part), count in zip(grouped, counts, strict=True):
        assert part.num_rows == count
        assert set(part.column("symbol").to_pylist()) == {symbol}
    assert [v for _, t in grouped for v in t.column("value").to_pylist()] == list(range(len(column)))


@given(st.lists(st.integers(min_value=0, max_value=3), max_size=40))
def test_runs_of_a_sorted_array(values: list[int]) -> None:
    ordered = sorted(values)
    found = runs(pa.chunked_array([pa.array(ordered[:5], pa.int64()), pa.array(ordered[5:], pa.int64())]))
    assert [v for v, a, b in found for _ in range(a, b)] == ordered
    assert [v for v, _, _ in found] == sorted(set(values))


def test_write_atomic_replaces_and_reports_in_one_sentence(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]  # no temp file left
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot write"):
        write_atomic(tmp_path / "file" / "c.bin", b"x")


@given(pieces=st.lists(st.binary(max_size=5000), max_size=4), old=st.binary(max_size=9000))
def test_write_files_atomic_writes_every_piece_and_leaves_no_temp_file(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes], old: bytes
) -> None:
    folder = tmp_path_factory.mktemp("bins") / "features" / "x"
    folder.mkdir(parents=True)
    (folder / "a.bin").write_bytes(old)  # replaced whole, never appended to or left longer
    views = [memoryview(p) for p in pieces]
    write_files_atomic(str(folder), {"a.bin": views, "b.bin": [b"head", *views]})
    assert (folder / "a.bin").read_bytes() == b"".join(pieces)
    assert (folder / "b.bin").read_bytes() == b"head" + b"".join(pieces)
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin"]


def test_write_files_atomic_failure_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot write") as raised:
        write_files_atomic(str(tmp_path / "file" / "sub"), {"c.bin": [b"x"]})
    assert "\n" not in str(raised.value)
