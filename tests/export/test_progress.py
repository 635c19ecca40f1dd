"""Progress events of the exports (phase "export", core/progress.py): they arrive in order, the counters only
grow, the last event has every series done of the total, and its rows are the rows the report counts."""

from __future__ import annotations

import itertools
from pathlib import Path

from binance_lake.core.progress import Phase, ProgressEvent
from binance_lake.lake import Lake
from tests.export.conftest import SYMBOLS


def check_events(events: list[ProgressEvent], *, series: int, rows: int) -> None:
    """The sequence a display sees: export events only, growing counters, everything done at the end."""
    assert events, "no progress event"
    assert {e.phase for e in events} == {Phase.EXPORT}
    for before, after in itertools.pairwise(events):
        assert after.done >= before.done and after.rows >= before.rows
        assert (after.total or 0) >= (before.total or 0)
    assert all(e.total is not None and e.done <= e.total for e in events if e.done)
    last = events[-1]
    assert (last.done, last.total, last.rows) == (series, series, rows)


def test_qlib_export_reports_each_symbol_then_the_incremental_run_too(export_lake: Lake, out: Path) -> None:
    events: list[ProgressEvent] = []
    report = export_lake.export_qlib(
        freq="60min", out=out, start="2023-10-15", end="2023-10-20", symbols=SYMBOLS, progress=events.append
    )
    check_events(events, series=len(SYMBOLS), rows=report.rows)
    assert sum(1 for a, b in itertools.pairwise(events) if b.done > a.done) >= len(SYMBOLS) - 1
    # A later export appends: every symbol counted again, the rows are the appended ones.
    events.clear()
    report = export_lake.export_qlib(
        freq="60min", out=out, start="2023-10-15", end="2023-10-22", symbols=SYMBOLS, progress=events.append
    )
    assert report.summary()["appended"]
    check_events(events, series=len(SYMBOLS), rows=report.rows)
    # Nothing new: every symbol is up to date at once, no rows.
    events.clear()
    export_lake.export_qlib(
        freq="60min", out=out, start="2023-10-15", end="2023-10-22", symbols=SYMBOLS, progress=events.append
    )
    check_events(events, series=len(SYMBOLS), rows=0)


def test_csv_export_reports_each_symbol_of_each_series(export_lake: Lake, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    report = export_lake.export_csv(
        out=tmp_path / "csv",
        start="2023-10-15",
        end="2023-10-20",
        intervals="1h,1d",
        symbols=",".join(SYMBOLS),
        progress=events.append,
    )
    check_events(events, series=2 * len(SYMBOLS), rows=report.rows)
    assert report.rows > 0


def test_the_lakes_stream_hands_over_per_symbol_the_rows_its_batches_hold(export_lake: Lake) -> None:
    """`SymbolStream.tables()` (each symbol's partitions read whole, read ahead) and the batches regrouped
    give the same tables, in the same order, the range's ends cut alike."""
    import datetime as dt

    import pyarrow as pa

    from binance_lake.export.sink import SeriesAsk, SymbolTables, by_symbol

    ask = SeriesAsk(
        "um",
        "klines",
        "1h",
        SYMBOLS,
        dt.datetime(2023, 10, 16, 5, tzinfo=dt.UTC),
        dt.datetime(2023, 10, 21, 7, tzinfo=dt.UTC),
        ("open_time", "close", "count"),
    )
    stream = export_lake.open_stream(ask)
    assert isinstance(stream, SymbolTables)
    regrouped = [(s, t.combine_chunks()) for s, t in by_symbol(list(iter(stream)))]
    tables = [(s, t.combine_chunks()) for s, t in stream.tables()]
    assert [s for s, _ in tables] == [s for s, _ in regrouped] and len(tables) >= 2
    for (_, ours), (_, theirs) in zip(tables, regrouped, strict=True):
        assert ours.schema == theirs.schema == stream.schema
        assert ours.equals(theirs)
        first = ours.column("open_time")[0].as_py()
        assert first >= ask.start and ours.column("open_time")[-1].as_py() < ask.end
    assert isinstance(regrouped[0][1], pa.Table)
