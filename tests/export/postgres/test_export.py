"""The PostgreSQL export against a real PostgreSQL 15 server and a lake synced from the simulator: what
PostgreSQL holds equals what the lake loads; a re-run is idempotent and reads nothing; a replaced partition
is replaced; an interrupted export resumes from its watermark."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from binance_lake.core.errors import PostgresError, UsageError
from binance_lake.core.partitions import parse_partition_path
from binance_lake.core.provenance import Provenance
from binance_lake.export.postgres import sink as sink_module
from binance_lake.export.postgres.live import write_rows
from binance_lake.export.postgres.sink import PostgresSink
from binance_lake.export.postgres.tables import BY_NAME, PgTable
from binance_lake.lake import Lake
from binance_lake.load.reader import load_table
from binance_lake.load.request import build_request
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, record_partitions
from binance_lake.storage.parquet import write_table_atomic
from binance_lake.storage.provenance import DayRecord, record_days
from tests.engine.test_sync_sim import lake_on


def connect(dsn: str) -> Any:
    import psycopg  # the optional extra; the pg_dsn fixture has required it (skip, or fail in CI)

    return psycopg.connect(dsn)


SYMBOLS = ("BTCUSDT", "ETHUSDT", "XEMUSDT")  # XEMUSDT is delisted in October 2023
START, END = "2023-09-01", "2023-10-31"


@pytest.fixture(scope="module")
def lake_root(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pg-lake")
    lake = lake_on(sim_server, root)
    symbols = ",".join(SYMBOLS)
    assert lake.sync(datasets="klines", intervals="1h", symbols=symbols, start=START, end=END).ok
    assert lake.sync(datasets="metrics,fundingRate", symbols=symbols, start=START, end=END).ok
    assert lake.sync(datasets="markPriceKlines", intervals="1h", symbols="BTCUSDT", start=START, end=END).ok
    # Liquidation snapshots: only COIN-M still has them (core/quirks.py); tick-like, one file a day.
    assert lake.sync(
        market="cm",
        datasets="liquidationSnapshot",
        symbols="BTCUSD_PERP",
        start="2023-10-01",
        end="2023-10-03",
    ).ok
    return root


def rows_of(dsn: str, table: str, order: str = "symbol, time") -> list[tuple[Any, ...]]:
    with connect(dsn) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY {order}".encode()).fetchall()


def expected(
    root: Path,
    table: PgTable,
    interval: str | None = None,
    *,
    market: str = "um",
    symbols: tuple[str, ...] = SYMBOLS,
) -> list[tuple[Any, ...]]:
    """The lake's rows as the PostgreSQL table spells them (but `source`)."""
    request = build_request(
        table.dataset, list(symbols), START, END, market=market, interval=interval, columns=table.lake_columns
    )
    loaded = load_table(root, request, require=False).table
    columns = [loaded.column(c).to_pylist() for c in ("symbol", *table.lake_columns)]
    out = []
    for values in zip(*columns, strict=True):
        key = (values[0], interval, values[1]) if table.has_timeframe else (values[0], values[1])
        out.append((*key, *values[2:]))
    return out


def without_source(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r[:-1] for r in rows]


def test_export_equals_the_lake_and_a_rerun_changes_nothing(lake_root: Path, pg_dsn: str) -> None:
    request = dict(start=START, end=END)
    report = Lake(lake_root).export_postgres(pg_dsn, **request)
    assert not report.timescale  # no TimescaleDB on this server: plain partitions
    by_table = {(t.table, t.timeframe): t for t in report.tables}
    exported = [
        ("ohlcv", "1h"),
        ("open_interest", None),
        ("funding_rate", None),
        ("long_short_ratio", None),
        ("mark_price", "1h"),
    ]
    assert list(by_table) == exported  # no liquidationSnapshot in um: not a table of this export
    for name, interval in exported:
        table = BY_NAME[name]
        held = rows_of(pg_dsn, name)
        assert without_source(held) == expected(lake_root, table, interval), name
        assert {r[-1] for r in held} <= {"archive_monthly", "archive_daily"}
        assert by_table[(name, interval)].rows == len(held)
    # Month partitions and the BRIN index are real.
    with connect(pg_dsn) as connection:
        parts = connection.execute(
            b"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            b"WHERE i.inhparent = 'ohlcv'::regclass ORDER BY 1"
        ).fetchall()
        assert [p[0] for p in parts] == ["ohlcv_p202309", "ohlcv_p202310"]
        assert connection.execute(
            b"SELECT count(*) FROM pg_indexes WHERE indexname = 'ohlcv_time_brin'"
        ).fetchone() == (1,)
        versions = connection.execute(
            b"SELECT symbol, watermark, pending, rows_exported, provenance, last_run_finished IS NOT NULL "
            b"FROM data_versions WHERE table_name = 'ohlcv' ORDER BY symbol"
        ).fetchall()
        assert [v[0] for v in versions] == list(SYMBOLS)
        assert all(v[2] is None and v[5] for v in versions)
        assert sum(v[3] for v in versions) == by_table[("ohlcv", "1h")].rows
        assert all(sum(v[4].values()) > 0 for v in versions)
        # The materialized view seed 003 queries: hourly open interest beside the hour's bar.
        oi = connection.execute(
            b"SELECT bucket, open_interest, close FROM oi_price_1h WHERE symbol = 'BTCUSDT' ORDER BY bucket LIMIT 1"
        ).fetchone()
        assert oi is not None and oi[1] is not None and oi[2] is not None
    before = {n: rows_of(pg_dsn, n) for n in ("ohlcv", "open_interest", "funding_rate")}
    again = Lake(lake_root).export_postgres(pg_dsn, **request)
    assert again.rows == 0 and again.up_to_date == sum(t.series for t in again.tables)
    assert {n: rows_of(pg_dsn, n) for n in before} == before


def _rewrite(root: Path, relative: str, change: dict[str, float]) -> pa.Table:
    path = root / relative
    table = pq.read_table(path)
    for column, factor in change.items():
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pa.compute.multiply(table.column(column), factor))
    write_table_atomic(path, table)
    stat = path.stat()  # recorded as a sync records what it writes, so the read side trusts the file
    record = PartitionRecord(parse_partition_path(relative), table.num_rows, stat.st_size, stat.st_mtime_ns)
    with LakeDatabase(root).connect() as connection:
        record_partitions(connection, [record])
    return table


def test_a_replaced_partition_is_replaced(lake_root: Path, pg_dsn: str, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(lake_root, root)
    lake = Lake(root)
    first = lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    count = len(rows_of(pg_dsn, "ohlcv"))
    # October of ETHUSDT changes in the lake (as a provisional month replaced by the archive would).
    _rewrite(root, "tables/klines/market=um/interval=1h/symbol=ETHUSDT/2023-10.parquet", {"close": 2.0})
    second = lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    assert second.tables[0].exported == 1  # only ETHUSDT
    assert second.tables[0].rows == len(
        [r for r in expected(root, BY_NAME["ohlcv"], "1h") if r[0] == "ETHUSDT" and r[2].month == 10]
    )
    held = rows_of(pg_dsn, "ohlcv")
    assert len(held) == count and first.rows == count
    assert without_source(held) == expected(root, BY_NAME["ohlcv"], "1h")


def test_an_interrupted_export_resumes_from_its_watermark(
    lake_root: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request: dict[str, Any] = dict(datasets="klines", start=START, end=END, batch_rows=200)
    real = PostgresSink.merge
    calls = {"n": 0}

    def failing(self: PostgresSink, *args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 8:
            raise PostgresError("the server went away")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PostgresSink, "merge", failing)
    with pytest.raises(PostgresError):
        Lake(lake_root).export_postgres(pg_dsn, **request)
    kept = len(rows_of(pg_dsn, "ohlcv"))
    assert (
        kept == 7 * 200
    )  # seven batches of BTCUSDT merged before the failure: September and part of October
    monkeypatch.setattr(PostgresSink, "merge", real)
    resumed = Lake(lake_root).export_postgres(pg_dsn, **request)
    total = len(expected(lake_root, BY_NAME["ohlcv"], "1h"))
    # Resumed at the watermark: the rows merged before the failure are not copied again.
    assert resumed.rows == total - kept
    assert without_source(rows_of(pg_dsn, "ohlcv")) == expected(lake_root, BY_NAME["ohlcv"], "1h")


def test_one_market_a_schema_and_timescale_on_needs_the_extension(
    lake_root: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "LOCK_WAIT", dt.timedelta(seconds=0.3))
    lake = Lake(lake_root)
    lake.export_postgres(pg_dsn, datasets="fundingRate", start=START, end=END)
    with pytest.raises(UsageError, match="holds um rows"):
        lake.export_postgres(pg_dsn, market="cm", datasets="fundingRate")
    with pytest.raises(UsageError, match="no timescaledb extension"):
        lake.export_postgres(pg_dsn, timescale="on", schema="other")
    # Two exports into one schema never interleave: the second is refused while the first holds the lock.
    with PostgresSink.open(pg_dsn), pytest.raises(PostgresError, match="another binance-lake export"):
        lake.export_postgres(pg_dsn, datasets="fundingRate", start=START, end=END)
    with PostgresSink.open(pg_dsn, exclusive=False):  # a stream collector's sink does not block an export
        lake.export_postgres(pg_dsn, datasets="fundingRate", start=START, end=END)


def test_an_export_waits_for_a_lock_its_holder_is_about_to_release(lake_root: Path, pg_dsn: str) -> None:
    """A session's advisory lock is released by its server process a moment after the client has gone; an
    export started in that moment (a retry right after a broken export) waits for it instead of refusing."""
    import threading

    holder = PostgresSink.open(pg_dsn)
    started = time.monotonic()
    threading.Timer(0.5, holder.close).start()
    report = Lake(lake_root).export_postgres(pg_dsn, datasets="fundingRate", start=START, end=END)
    assert time.monotonic() - started >= 0.5
    assert report.rows > 0
    assert without_source(rows_of(pg_dsn, "funding_rate")) == expected(lake_root, BY_NAME["funding_rate"])


def test_a_server_that_does_not_answer_is_one_sentence(lake_root: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PostgresError, match=f"cannot connect to PostgreSQL at 127.0.0.1:{port}/db"):
        Lake(lake_root).export_postgres(f"postgresql://u:secret@127.0.0.1:{port}/db")


def test_liquidations_keyless_text_columns_and_daily_partitions(lake_root: Path, pg_dsn: str) -> None:
    """Liquidations have text columns (psycopg's row writer, not the numpy path), no key, and one lake
    file a day; they go to their own schema, as every market does."""
    lake = Lake(lake_root)
    report = lake.export_postgres(pg_dsn, market="cm", schema="cm", start="2023-10-01", end="2023-10-03")
    assert [(t.table, t.series, t.exported) for t in report.tables] == [("liquidations", 1, 1)]
    table = BY_NAME["liquidations"]
    want = expected(lake_root, table, market="cm", symbols=("BTCUSD_PERP",))
    want = [r for r in want if r[1] < dt.datetime(2023, 10, 4, tzinfo=dt.UTC)]
    order = "symbol, time, side, price, original_quantity, accumulated_fill_quantity"
    held = without_source(rows_of(pg_dsn, "cm.liquidations", order))
    assert len(held) == len(want) > 0
    assert sorted(held, key=repr) == sorted(want, key=repr)
    with connect(pg_dsn) as connection:
        versions = connection.execute(b"SELECT partitions FROM cm.data_versions").fetchone()
    assert versions is not None and sorted(versions[0]) == [
        "2023-10-01.parquet",
        "2023-10-02.parquet",
        "2023-10-03.parquet",
    ]
    assert (
        lake.export_postgres(pg_dsn, market="cm", schema="cm", start="2023-10-01", end="2023-10-03").rows == 0
    )
    assert len(rows_of(pg_dsn, "cm.liquidations", order)) == len(want)


def _set_day(root: Path, relative: str, table: pa.Table, day: dt.date, source: Provenance) -> None:
    """Store `table` as the partition (recorded as a sync records it) with `day` from `source`."""
    path = root / relative
    write_table_atomic(path, table)
    partition = parse_partition_path(relative)
    stat = path.stat()
    with LakeDatabase(root).connect() as connection:
        record_partitions(
            connection, [PartitionRecord(partition, table.num_rows, stat.st_size, stat.st_mtime_ns)]
        )
        record_days(connection, [DayRecord(partition, day, source, "test", None, None)])


def test_a_provisional_day_is_replaced_when_the_archive_replaces_it(
    lake_root: Path, pg_dsn: str, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(lake_root, root)
    relative = "tables/klines/market=um/interval=1h/symbol=ETHUSDT/2023-10.parquet"
    archived = pq.read_table(root / relative)
    last_day = dt.date(2023, 10, 31)
    day_start = dt.datetime(2023, 10, 31, tzinfo=dt.UTC)
    # A REST fill of the last day: three hours short, other prices (as a provisional day can be).
    times = archived.column("open_time")
    keep = pa.compute.less(times, pa.scalar(day_start + dt.timedelta(hours=21), times.type))
    provisional = archived.filter(keep)
    is_last = pa.compute.greater_equal(provisional.column("open_time"), pa.scalar(day_start, times.type))
    close = pa.compute.if_else(
        is_last, pa.compute.multiply(provisional.column("close"), 1.5), provisional.column("close")
    )
    provisional = provisional.set_column(provisional.schema.get_field_index("close"), "close", close)
    _set_day(root, relative, provisional, last_day, Provenance.REST)
    lake = Lake(root)
    lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)

    def last_day_rows() -> list[tuple[Any, ...]]:
        return [r for r in rows_of(pg_dsn, "ohlcv") if r[0] == "ETHUSDT" and r[2] >= day_start]

    assert len(last_day_rows()) == 21 and {r[-1] for r in last_day_rows()} == {"rest"}
    # The archive publishes the day: the lake replaces it, and so does the next export.
    _set_day(root, relative, archived, last_day, Provenance.ARCHIVE_DAILY)
    again = lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    assert [t.exported for t in again.tables] == [1]
    assert len(last_day_rows()) == 24 and {r[-1] for r in last_day_rows()} == {"archive_daily"}
    assert without_source(rows_of(pg_dsn, "ohlcv")) == expected(root, BY_NAME["ohlcv"], "1h")
    # A held day that now has fewer rows (its tail gone): the rows the lake no longer has go too.
    _set_day(root, relative, archived.filter(keep), last_day, Provenance.REST)
    lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    assert len(last_day_rows()) == 21
    assert without_source(rows_of(pg_dsn, "ohlcv")) == expected(root, BY_NAME["ohlcv"], "1h")


def test_a_stream_collector_writes_through_the_same_sink(
    lake_root: Path, pg_dsn: str, tmp_path: Path
) -> None:
    """Rows written live (`source` stream) replace the hours they cover; the next export of the lake
    partition holding those hours puts the lake's rows back."""
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(lake_root, root)
    lake = Lake(root)
    lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    relative = "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2023-10.parquet"
    october = pq.read_table(root / relative)
    live = october.slice(october.num_rows - 3).append_column("symbol", pa.array(["BTCUSDT"] * 3))
    live = live.set_column(
        live.schema.get_field_index("close"), "close", pa.compute.multiply(live.column("close"), 2.0)
    )
    with PostgresSink.open(pg_dsn, exclusive=False) as sink:
        assert write_rows(sink, "ohlcv", live, timeframe="1h") == 3
        with pytest.raises(UsageError, match="needs timeframe"):
            write_rows(sink, "ohlcv", live)
    held = rows_of(pg_dsn, "ohlcv")
    assert [r[-1] for r in held if r[0] == "BTCUSDT"][-4:] == [
        "archive_monthly",
        "stream",
        "stream",
        "stream",
    ]
    assert len(held) == len(expected(root, BY_NAME["ohlcv"], "1h"))
    # The lake's partition is written again (as a sync that re-ingests it would): its rows win.
    _set_day(root, relative, october, dt.date(2023, 10, 31), Provenance.ARCHIVE_MONTHLY)
    lake.export_postgres(pg_dsn, datasets="klines", start=START, end=END)
    held = rows_of(pg_dsn, "ohlcv")
    assert without_source(held) == expected(root, BY_NAME["ohlcv"], "1h")
    assert "stream" not in {r[-1] for r in held}


_EXAMPLES = itertools.count()
STEP = st.tuples(
    st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    st.sampled_from(["2023-09", "2023-10"]),
    st.integers(1, 30),  # days September keeps (October, each series' last partition, keeps its days)
    st.floats(0.5, 2.0),  # close scaled by
    st.sampled_from([37, 500, 4096]),  # batch_rows of the export after the change
    st.one_of(st.none(), st.integers(1, 4)),  # that export interrupted at its n-th merge, then run again
)


@pytest.mark.slow
# No shrinking: each example is a few exports on a shared machine, so a failure is reported as found.
@settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=3))
def test_postgres_always_equals_the_lake(
    lake_root: Path, pg_dsn: str, tmp_path: Path, steps: list[tuple[str, str, int, float, int, int | None]]
) -> None:
    """Whatever partitions change, with whatever batch size, interrupted or not: after the export,
    PostgreSQL holds exactly the lake's rows (no duplicate, nothing stale, nothing missing)."""
    import shutil

    n = next(_EXAMPLES)
    root, schema = tmp_path / f"lake{n}", f"p{n}"
    shutil.copytree(lake_root, root)
    lake = Lake(root)
    arguments: dict[str, Any] = dict(datasets="klines", start=START, end=END, schema=schema)
    lake.export_postgres(pg_dsn, **arguments, batch_rows=1000)
    for symbol, month, days, scale, batch_rows, interrupt in steps:
        relative = f"tables/klines/market=um/interval=1h/symbol={symbol}/{month}.parquet"
        table = pq.read_table(root / relative)
        if month == "2023-09":
            times = table.column("open_time")
            table = table.filter(
                pa.compute.less(
                    times,
                    pa.scalar(dt.datetime(2023, 9, 1, tzinfo=dt.UTC) + dt.timedelta(days=days), times.type),
                )
            )
        table = table.set_column(4, "close", pa.compute.multiply(table.column("close"), scale))
        _set_day(root, relative, table, dt.date.fromisoformat(month + "-01"), Provenance.ARCHIVE_MONTHLY)
        if interrupt is not None:
            real, calls = PostgresSink.merge, itertools.count(1)

            def failing(
                self: PostgresSink,
                *args: Any,
                calls: Any = calls,
                at: int = interrupt,
                real: Any = real,
                **kwargs: Any,
            ) -> int:
                if next(calls) == at:
                    raise PostgresError("the connection broke")
                return real(self, *args, **kwargs)

            PostgresSink.merge = failing  # type: ignore[method-assign]
            try:
                with contextlib.suppress(PostgresError):
                    lake.export_postgres(pg_dsn, **arguments, batch_rows=batch_rows)
            finally:
                PostgresSink.merge = real  # type: ignore[method-assign]
        lake.export_postgres(pg_dsn, **arguments, batch_rows=batch_rows)
        assert without_source(rows_of(pg_dsn, f"{schema}.ohlcv")) == expected(root, BY_NAME["ohlcv"], "1h")


def test_progress_events_count_every_series_and_row(lake_root: Path, pg_dsn: str) -> None:
    import itertools

    from binance_lake.core.progress import Phase, ProgressEvent

    events: list[ProgressEvent] = []
    report = Lake(lake_root).export_postgres(
        pg_dsn,
        start=START,
        end=END,
        schema="progress",
        datasets="klines",
        batch_rows=1000,  # several merges, so rows arrive before the end
        progress=events.append,
    )
    series = sum(t.series for t in report.tables)
    assert events and {e.phase for e in events} == {Phase.EXPORT}
    for before, after in itertools.pairwise(events):
        assert after.done >= before.done and after.rows >= before.rows
    assert (events[-1].done, events[-1].total, events[-1].rows) == (series, series, report.rows)
    assert report.rows > 0 and any(0 < e.rows < report.rows for e in events)  # rows arrive as they merge
    # A re-run finds every series up to date: all done, no rows.
    events.clear()
    Lake(lake_root).export_postgres(
        pg_dsn, start=START, end=END, schema="progress", datasets="klines", progress=events.append
    )
    assert (events[-1].done, events[-1].total, events[-1].rows) == (series, series, 0)
