"""A stream collector's rows into PostgreSQL as they are flushed (`stream --postgres DSN`, issue 14).

`StreamTables(dsn)` is the collector's PostgreSQL sink: `write(batches)` takes `(market, dataset, interval,
rows)` tuples — `rows` an Arrow table of the lake dataset's columns plus `symbol` — and writes each into its
table with `source` = `stream` through the export's merge (export/postgres/sink.py):

| stream dataset | table | timeframe |
|---|---|---|
| `klines` (closed bars) | `ohlcv` | the interval |
| `liquidations` (forceOrder) | `liquidations` | — |
| `markPrice` (markPrice@1s / @3s updates) | `mark_price_updates` (mark, index, estimated settle, funding rate, next funding time as epoch ms) | — |

aggTrades have no table (seed 003 stores none). Each write replaces exactly the (symbol, time)s it carries
(a one-microsecond span each, rows de-duplicated by key first), so a batch sent again after PostgreSQL came
back is idempotent and never touches rows at other times. The connection opens lazily and is dropped on any
failure; the next `write` reconnects (the collector decides when to retry, realtime/live_sink.py). The next
`export postgres` of a lake partition covering these rows replaces them with the lake's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.errors import BinanceLakeError, PostgresError
from binance_lake.core.provenance import Provenance
from binance_lake.export.postgres.sink import PostgresSink, Span, _psycopg
from binance_lake.export.postgres.tables import BY_NAME, SOURCE_CODES, F, PgColumn, PgTable

MARK_PRICE_UPDATES = PgTable(
    "mark_price_updates",
    "markPrice",
    False,
    "event_time",
    (
        PgColumn("mark_price", "mark_price", F),
        PgColumn("index_price", "index_price", F),
        PgColumn("estimated_settle_price", "estimated_settle_price", F),
        PgColumn("funding_rate", "funding_rate", F),
        PgColumn("next_funding_time", "next_funding_time_ms", "bigint"),
    ),
    True,
    "1 day",
    "7 days",
)
"""Mark-price updates as streamed (no archive dataset has them; `mark_price` holds mark-price klines)."""

STREAM_TABLES: dict[str, PgTable] = {
    "klines": BY_NAME["ohlcv"],
    "liquidations": BY_NAME["liquidations"],
    "markPrice": MARK_PRICE_UPDATES,
}

Batch = tuple[str, str, str | None, pa.Table]
"""(market, stream dataset, interval or None, rows with `symbol` and the dataset's lake columns)."""


def _prepared(table: pa.Table, pg: PgTable) -> pa.Table:
    if pg is MARK_PRICE_UPDATES:
        ms = pc.divide(table["next_funding_time"].cast(pa.int64()), 1000)
        table = table.append_column("next_funding_time_ms", ms)
    names = ["symbol", *pg.lake_columns]
    table = table.select(names).sort_by([("symbol", "ascending"), (pg.time_lake, "ascending")])
    if pg.unique and table.num_rows > 1:
        # The last row of each (symbol, time): a stream duplicate or a repaired row beside a live one.
        keys = table.select(["symbol", pg.time_lake]).to_pylist()
        keep = [i for i in range(len(keys)) if i + 1 == len(keys) or keys[i] != keys[i + 1]]
        table = table.take(pa.array(keep, pa.int64()))
    return table.combine_chunks()


def exact_spans(table: pa.Table, time_column: str) -> tuple[list[Span], np.ndarray[Any, np.dtype[np.int32]]]:
    """One span per distinct (symbol, time) of `table` (sorted by them) and each row's span number (1-based)."""
    symbols = table["symbol"].to_pylist()
    times = table[time_column].cast(pa.int64()).to_numpy()
    spans: list[Span] = []
    owners = np.empty(len(symbols), np.int32)
    previous: tuple[str, int] | None = None
    for i, (name, moment) in enumerate(zip(symbols, times.tolist(), strict=True)):
        here = (str(name), int(moment))
        if here != previous:
            spans.append(Span(here[0], here[1], here[1] + 1))
            previous = here
        owners[i] = len(spans)
    return spans, owners


class StreamTables:
    """The collector's PostgreSQL sink; used from one thread at a time."""

    name = "postgres"
    datasets = frozenset(STREAM_TABLES)

    def __init__(self, dsn: str, *, schema: str = "public", connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.schema = schema
        self.connect_timeout = connect_timeout
        self._sink: PostgresSink | None = None
        _psycopg()  # psycopg missing: one UsageError now, not at every flush

    def _open(self) -> PostgresSink:
        if self._sink is None:
            sink = PostgresSink.open(
                self.dsn, schema=self.schema, exclusive=False, connect_timeout=self.connect_timeout
            )
            try:
                sink.prepare_extra(MARK_PRICE_UPDATES)
            except Exception as error:
                sink.close()
                raise PostgresError(f"preparing {self.schema}.mark_price_updates failed: {error}") from None
            self._sink = sink
        return self._sink

    def write(self, batches: Sequence[Batch]) -> int:
        """Write every batch (see the module docstring); returns the rows written. A failure drops the
        connection and raises `PostgresError`; nothing of the failed table's batch was kept."""
        written = 0
        try:
            sink = self._open()
            for _market, dataset, interval, rows in batches:
                pg = STREAM_TABLES.get(dataset)
                if pg is None or rows.num_rows == 0:
                    continue
                table = _prepared(rows, pg)
                spans, owners = exact_spans(table, pg.time_lake)
                sources = np.full(table.num_rows, SOURCE_CODES[Provenance.STREAM.value], np.int16)
                batch = table.drop_columns(["symbol"]).to_batches()[0]
                written += sink.merge(
                    pg, interval if pg.has_timeframe else None, spans, batch, owners, sources
                )
        except BinanceLakeError:
            self.close()
            raise
        except Exception as error:  # psycopg's OperationalError outside a merge (a dead connection)
            self.close()
            raise PostgresError(
                f"writing the stream to PostgreSQL failed: {str(error).splitlines()[0]}"
            ) from None
        return written

    def close(self) -> None:
        if self._sink is not None:
            with contextlib.suppress(Exception):  # closing a connection that is already gone
                self._sink.close()
            self._sink = None
