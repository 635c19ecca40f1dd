"""The PostgreSQL sink: one connection, the export schema made once, and one merge per batch.

`PostgresSink.open(dsn, schema=…, timescale="auto"|"on"|"off")` connects (psycopg 3, the optional extra
`binance-lake[postgres]`), decides the layout (TimescaleDB when the extension is available and asked for,
else plain month partitions; an existing table keeps the layout it has), creates what is missing
(export/postgres/ddl.py) and a staging table per target table. `merge(...)` then writes one batch (runs of
rows of one or more series) in one transaction:

    COPY stage FROM STDIN (FORMAT BINARY)      -- export/postgres/binary.py, or psycopg's row writer
    DELETE FROM target WHERE (series, lo <= time < hi) for each series of the batch
    INSERT INTO target SELECT … FROM stage
    data_versions: the watermark hi (export/postgres/versions.py)
    COMMIT                                     -- the staging table empties itself (ON COMMIT DELETE ROWS)

Replacing the range `[lo, hi)` rather than upserting keys makes a re-run idempotent, replaces a provisional
(REST or stream) row the lake has since replaced, drops rows the lake no longer holds in that range, and
works for `liquidations`, which has no key. Because the watermark moves in the same transaction as the
rows, an interrupted export resumes exactly where PostgreSQL stands. A stream collector writes through the
same `merge` (export/postgres/live.py). An export holds the schema's advisory lock while it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from binance_lake.core.errors import PostgresError, UsageError
from binance_lake.export.postgres import ddl
from binance_lake.export.postgres.binary import PG_EPOCH_US, encode
from binance_lake.export.postgres.tables import SOURCES, TABLES, PgTable

if TYPE_CHECKING:
    import psycopg

TimescaleMode = Literal["auto", "on", "off"]
TIMESCALE_MODES: tuple[TimescaleMode, ...] = ("auto", "on", "off")
INSTALL_HINT = "pip install 'binance-lake[postgres]' (psycopg 3)"
# How long an export waits for the schema's advisory lock before refusing. A session's locks are released by
# its server process as it exits, a moment *after* the client has closed the connection, so an export that
# follows another at once (a retry after a broken export, a cron job behind a slow one) must wait a little
# rather than be refused by the lock of a session that is already gone.
LOCK_WAIT = dt.timedelta(seconds=5)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(f"the PostgreSQL export needs psycopg 3: {INSTALL_HINT}") from None
    return psycopg


def where_of(dsn: str) -> str:
    """The server a DSN names, without its password (for messages)."""
    psycopg = _psycopg()
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "the given DSN"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


@dataclass(frozen=True)
class Span:
    """One series' time range `[lo_us, hi_us)` (µs since the Unix epoch) that a merge replaces."""

    symbol: str
    lo_us: int
    hi_us: int


@dataclass
class PostgresSink:
    """An open export connection (see the module docstring). Use `open`, then `merge`, then `close`."""

    connection: psycopg.Connection[Any]
    schema: str
    timescale: bool
    partitioned: set[str] = field(default_factory=set)  # tables laid out as month partitions
    months: dict[str, set[dt.date]] = field(default_factory=dict)  # their existing partitions

    @classmethod
    def open(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        timescale: TimescaleMode = "auto",
        connect_timeout: int = 10,
        exclusive: bool = True,
    ) -> PostgresSink:
        """Connect and prepare the schema. `exclusive` (an export) holds the schema's advisory lock for the
        connection's life, so two exports never interleave their merges; a stream collector's sink
        (`exclusive=False`) only writes rows and does not take it."""
        psycopg = _psycopg()
        if timescale not in TIMESCALE_MODES:
            raise UsageError(f"--timescale must be auto, on or off, not {timescale!r}")
        try:
            connection = psycopg.connect(dsn, connect_timeout=connect_timeout)
        except psycopg.Error as error:
            raise PostgresError(
                f"cannot connect to PostgreSQL at {where_of(dsn)}: {first_line(error)}"
            ) from None
        try:
            # A commit need not wait for its WAL flush: a crash can lose the last batches, but each batch's
            # watermark commits with its rows, so the export resumes from what PostgreSQL kept.
            connection.execute(b"SET synchronous_commit TO off")
            sink = cls(connection, schema, timescale=False)
            if exclusive:
                sink._lock()
            sink._prepare(timescale)
        except psycopg.Error as error:
            connection.close()
            raise PostgresError(f"preparing the export schema {schema} failed: {first_line(error)}") from None
        except BaseException:
            connection.close()
            raise
        return sink

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> PostgresSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement (in the open transaction) and return its rows, if it has any."""
        with self.connection.cursor() as cursor:
            cursor.execute(query.encode(), params)  # bytes: our SQL is built, not user-given
            return list(cursor.fetchall()) if cursor.description else []

    def _lock(self) -> None:
        psycopg = _psycopg()
        key = f"binance-lake export {self.schema}"
        timeout_ms = max(1, int(LOCK_WAIT.total_seconds() * 1000))
        try:
            # `lock_timeout` bounds the wait of pg_advisory_lock; SET LOCAL ends with this transaction.
            self.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            self.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
        except psycopg.errors.LockNotAvailable:
            self.connection.rollback()
            raise PostgresError(
                f"another binance-lake export into schema {self.schema} is running on this server; "
                "wait for it to finish (or export to another --schema)"
            ) from None
        self.connection.commit()  # the lock is the session's: it outlives this transaction

    def _relkind(self, name: str) -> str | None:
        rows = self.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            [self.schema, name],
        )
        return str(rows[0][0]) if rows else None

    def _prepare(self, mode: TimescaleMode) -> None:
        available = bool(self.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"))
        if mode == "on" and not available:
            raise UsageError(
                "--timescale on: this PostgreSQL server has no timescaledb extension; install it, or use "
                "--timescale auto (plain PostgreSQL partitions when it is missing)"
            )
        self.timescale = available and mode != "off"
        for statement in ddl.create_schema(self.schema):
            self.execute(statement)
        if self.timescale:
            self.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        for statement in ddl.data_versions(self.schema):
            self.execute(statement)
        for table in TABLES:
            self._prepare_table(table, mode)
        # What the tables are, not what was asked: tables made as plain partitions stay plain.
        self.timescale = self.timescale and not self.partitioned
        if self._relkind(ddl.OI_PRICE) is None:
            for statement in (
                ddl.timescale_oi_price(self.schema) if self.timescale else ddl.plain_oi_price(self.schema)
            ):
                self.execute(statement)
        self.connection.commit()

    def _prepare_table(self, table: PgTable, mode: TimescaleMode) -> None:
        kind = self._relkind(table.name)
        if kind is None:
            layout = ddl.timescale_table if self.timescale else ddl.plain_table
            for statement in layout(self.schema, table):
                self.execute(statement)
            kind = "r" if self.timescale else "p"
        elif kind == "p" and mode == "on":
            raise UsageError(
                f"--timescale on: {self.schema}.{table.name} already exists as plain PostgreSQL partitions; "
                "export to another --schema, drop the table, or use --timescale auto"
            )
        if kind == "p":
            self.partitioned.add(table.name)
            rows = self.execute(
                "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                [f"{ddl.ident(self.schema)}.{ddl.ident(table.name)}"],
            )
            self.months[table.name] = {_bound_month(str(r[0])) for r in rows}
        staged = ", ".join(f"{ddl.ident(c.name)} {c.pg_type}" for c in table.columns)
        self.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {ddl.ident('stage_' + table.name)} "
            f"(time timestamptz NOT NULL, {staged}, source smallint, series integer) ON COMMIT DELETE ROWS"
        )

    def prepare_extra(self, table: PgTable) -> None:
        """Create a table outside `TABLES` (the stream's `mark_price_updates`) in this schema's layout."""
        self._prepare_table(table, "auto")
        self.connection.commit()

    def _ensure_months(self, table: PgTable, first_us: int, last_us: int) -> None:
        if table.name not in self.partitioned:
            return
        known = self.months.setdefault(table.name, set())
        month = _month_of(first_us)
        last = _month_of(last_us)
        while month <= last:
            if month not in known:
                self.execute(ddl.month_partition(self.schema, table, month))
                known.add(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)

    def merge(
        self,
        table: PgTable,
        timeframe: str | None,
        spans: Sequence[Span],
        rows: pa.RecordBatch | None = None,
        series: npt.NDArray[np.int32] | None = None,
        sources: npt.NDArray[np.int16] | None = None,
        then: Sequence[tuple[str, Sequence[Sequence[Any]]]] = (),
    ) -> int:
        """Replace `table`'s rows of each span's series (one timeframe) in its `[lo_us, hi_us)` by `rows`
        (the table's lake columns, time first; row i belongs to `spans[series[i] - 1]`; None deletes only),
        and run each `then` statement for its parameter rows, all in one transaction. Returns the rows
        written."""
        psycopg = _psycopg()
        count = 0 if rows is None else rows.num_rows
        try:
            if count:
                assert rows is not None and series is not None and sources is not None
                times = rows.column(0).cast(pa.int64()).to_numpy()
                self._stage(table, times, rows, series, sources)
                self._ensure_months(table, int(times.min()), int(times.max()))
            if spans:
                self.execute(*self._delete(table, timeframe, spans))
            if count:
                self.execute(*self._insert(table, timeframe, spans))
            with self.connection.cursor() as cursor:
                for statement, params in then:
                    cursor.executemany(statement.encode(), params)
            self.connection.commit()
        except psycopg.Error as error:
            self.connection.rollback()
            symbols = ", ".join(sorted({s.symbol for s in spans})[:3]) + (", …" if len(spans) > 3 else "")
            raise PostgresError(
                f"writing {self.schema}.{table.name} ({symbols}) failed, nothing of this batch was kept: "
                f"{first_line(error)}"
            ) from None
        return count

    def _stage(
        self,
        table: PgTable,
        times: npt.NDArray[np.int64],
        rows: pa.RecordBatch,
        series: npt.NDArray[np.int32],
        sources: npt.NDArray[np.int16],
    ) -> None:
        stage = ddl.ident("stage_" + table.name)
        names = ", ".join(["time", *(ddl.ident(c.name) for c in table.columns), "source", "series"])
        pg_types = [c.pg_type for c in table.columns]
        values = rows.columns[1:]
        data = encode(times, values, pg_types, sources, series)
        with self.connection.cursor() as cursor:
            statement = f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)".encode()
            with cursor.copy(statement) as copy:
                if data is not None:
                    copy.write(data)
                    return
                copy.set_types(["timestamptz", *pg_types, "smallint", "integer"])
                for row in _python_rows(rows, sources, series):
                    copy.write_row(row)

    def _delete(self, table: PgTable, timeframe: str | None, spans: Sequence[Span]) -> tuple[str, list[Any]]:
        timeframes = "AND t.timeframe = %s " if table.has_timeframe else ""
        return (
            f"DELETE FROM {ddl.qualified(self.schema, table.name)} AS t "
            "USING unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS r(symbol, lo, hi) "
            f"WHERE t.symbol = r.symbol {timeframes}AND t.time >= r.lo AND t.time < r.hi",
            [
                [s.symbol for s in spans],
                [_moment(s.lo_us) for s in spans],
                [_moment(s.hi_us) for s in spans],
                *([timeframe] if table.has_timeframe else []),
            ],
        )

    def _insert(self, table: PgTable, timeframe: str | None, spans: Sequence[Span]) -> tuple[str, list[Any]]:
        key = ["(%s::text[])[series]", "%s::text"] if table.has_timeframe else ["(%s::text[])[series]"]
        params: list[Any] = [[s.symbol for s in spans], *([timeframe] if table.has_timeframe else [])]
        values = [ddl.ident(c.name) for c in table.columns]
        labels = ", ".join(ddl.literal(s.value) for s in SOURCES)
        columns = ", ".join(ddl.ident(c) for c in table.all_columns)
        return (
            f"INSERT INTO {ddl.qualified(self.schema, table.name)} ({columns}) "
            f"SELECT {', '.join([*key, 'time', *values])}, (ARRAY[{labels}])[source] "
            f"FROM {ddl.ident('stage_' + table.name)}",
            params,
        )

    def refresh_views(self, span: tuple[dt.datetime, dt.datetime] | None) -> None:
        """Bring oi_price_1h up to date (outside a transaction: TimescaleDB's refresh requires it)."""
        psycopg = _psycopg()
        timescale = self._relkind(ddl.OI_HOURLY) is not None
        populated = bool(
            self.execute(
                "SELECT 1 FROM pg_matviews WHERE schemaname = %s AND matviewname = %s AND ispopulated",
                [self.schema, ddl.OI_PRICE],
            )
        )
        self.connection.commit()
        statement = ddl.refresh_oi_price(self.schema, timescale, populated=populated, span=span)
        try:
            self.connection.autocommit = True
            self.execute(statement)
        except psycopg.Error as error:
            raise PostgresError(
                f"refreshing {self.schema}.{ddl.OI_PRICE} failed: {first_line(error)}"
            ) from None
        finally:
            self.connection.autocommit = False


def _moment(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def _month_of(us: int) -> dt.date:
    return _moment(us).date().replace(day=1)


def _bound_month(bound: str) -> dt.date:
    """The month of a partition bound `FOR VALUES FROM ('2024-01-01 00:00:00+00') TO (…)`."""
    return dt.date.fromisoformat(bound.split("'")[1][:10]).replace(day=1)


def _python_rows(
    rows: pa.RecordBatch, sources: npt.NDArray[np.int16], series: npt.NDArray[np.int32]
) -> Iterator[tuple[Any, ...]]:
    """Rows as Python values for psycopg's writer (text columns, nulls): the slow path."""
    columns = [c.to_pylist() for c in rows.columns]
    codes, owners = sources.tolist(), series.tolist()
    for i in range(rows.num_rows):
        yield (*(c[i] for c in columns), codes[i], owners[i])


__all__ = ["PG_EPOCH_US", "TIMESCALE_MODES", "PostgresError", "PostgresSink", "Span", "TimescaleMode"]
