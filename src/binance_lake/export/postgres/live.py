"""Rows that are not (yet) in the lake — a stream collector's — written through the export's sink.

    with PostgresSink.open(dsn, exclusive=False) as sink:    # no export lock: rows only
        write_rows(sink, "ohlcv", batch, timeframe="1m")      # batch: symbol + the table's lake columns

Each symbol's rows replace that series' rows in `[first time, last time]`, with `source` = `stream` (or the
given provenance), in one transaction, through the same staging COPY and merge as the export. Nothing is
recorded in `data_versions`: these rows are provisional, and the next export of a lake partition that covers
them replaces them with the lake's rows (the lake's own provisional days are replaced in turn when the
archive publishes them).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from binance_lake.core.errors import UsageError
from binance_lake.core.provenance import Provenance
from binance_lake.export.postgres.export import symbol_runs
from binance_lake.export.postgres.sink import PostgresSink, Span
from binance_lake.export.postgres.tables import BY_NAME, SOURCE_CODES


def write_rows(
    sink: PostgresSink,
    table_name: str,
    batch: pa.RecordBatch | pa.Table,
    *,
    timeframe: str | None = None,
    source: Provenance = Provenance.STREAM,
) -> int:
    """Write `batch` (columns `symbol` and the table's lake columns, any order of rows) into `table_name`;
    returns the rows written."""
    table = BY_NAME.get(table_name)
    if table is None:
        raise UsageError(f"no export table {table_name!r}; tables: {', '.join(BY_NAME)}")
    if table.has_timeframe != (timeframe is not None):
        raise UsageError(f"{table_name} {'needs' if table.has_timeframe else 'has no'} timeframe")
    names = ["symbol", *table.lake_columns]
    missing = [n for n in names if n not in batch.schema.names]
    if missing:
        raise UsageError(f"rows for {table_name} lack the column(s) {', '.join(missing)}")
    if batch.num_rows == 0:
        return 0
    ordered = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    ordered = ordered.select(names).sort_by([("symbol", "ascending"), (table.time_lake, "ascending")])
    rows = ordered.combine_chunks().to_batches()[0]
    spans, owners = [], []
    for n, (symbol, run) in enumerate(symbol_runs(rows), start=1):
        times = run.column(1).cast(pa.int64()).to_numpy()
        spans.append(Span(symbol, int(times[0]), int(times[-1]) + 1))
        owners.append(np.full(run.num_rows, n, np.int32))
    sources = np.full(rows.num_rows, SOURCE_CODES[source.value], np.int16)
    return sink.merge(table, timeframe, spans, rows.drop_columns(["symbol"]), np.concatenate(owners), sources)
