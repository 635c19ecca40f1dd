"""`Lake.export_postgres`: the lake's series copied into PostgreSQL / TimescaleDB (binance_lake.export.postgres).

The export package and the read side are siblings, so this group hands the export its two ways of reading
the lake: a stream of record batches per (table, interval, symbols, range) from `load.stream.iter_batches`,
and each held day's source from `day_provenance` (`storage.provenance.held_days`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from binance_lake.core.progress import ProgressSink
from binance_lake.core.timerange import DateLike, TimeRange
from binance_lake.export.postgres.export import (
    DEFAULT_BATCH_ROWS,
    PostgresExportReport,
    build_export_request,
    export_postgres,
)
from binance_lake.export.postgres.tables import PgTable
from binance_lake.facade.base import LakeBase
from binance_lake.facade.existing import require_lake
from binance_lake.load.connection import Cursor, LakeState
from binance_lake.load.request import build_request
from binance_lake.load.stream import Batches, iter_batches
from binance_lake.storage.provenance import held_days


@dataclass(frozen=True)
class _Stream:
    """`load.stream.Batches` as the export reads it (`export.postgres.export.RowStream`)."""

    batches: Batches

    @property
    def files(self) -> Mapping[str, Sequence[Path]]:
        return self.batches.planned.files

    @property
    def missing(self) -> str:
        return self.batches.missing.summary() if self.batches.missing else ""

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.batches)


@dataclass(frozen=True)
class _LakeReads:
    root: Path
    market: str

    def stream(
        self, table: PgTable, interval: str | None, symbols: Sequence[str], span: TimeRange, rows: int
    ) -> _Stream:
        request = build_request(
            table.dataset,
            list(symbols),
            span.start,
            span.end,
            market=self.market,
            interval=interval,
            columns=table.lake_columns,
        )
        return _Stream(iter_batches(self.root, request, batch_rows=rows, require=False))

    def sources(
        self, table: PgTable, interval: str | None, symbols: Sequence[str], span: TimeRange
    ) -> Sequence[tuple[str, dt.date, str]]:
        def ask(
            handle: Cursor, alias: str | None, tables: frozenset[str]
        ) -> tuple[tuple[str, dt.date, str], ...]:
            if alias is None or "day_provenance" not in tables:
                return ()
            days = held_days(
                handle,
                market=self.market,
                dataset=table.dataset,
                interval=interval,
                symbols=symbols,
                first=span.first_day,
                last=span.last_day,
                schema=f"{alias}.",
            )
            return tuple((d.symbol, d.day, d.source.value) for d in days)

        key = ("export_postgres.sources", table.dataset, interval, tuple(symbols), span)
        with LakeState(self.root) as state:
            return state.ask(key, ask)


class ExportPostgresMethods(LakeBase):
    """`Lake.export_postgres` (see the module docstring)."""

    def export_postgres(
        self,
        dsn: str,
        *,
        market: str = "um",
        datasets: Iterable[str] | str | None = None,
        intervals: Iterable[str] | str | None = None,
        symbols: Iterable[str] | str | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        schema: str = "public",
        timescale: str = "auto",
        batch_rows: int = DEFAULT_BATCH_ROWS,
        progress: ProgressSink | None = None,
    ) -> PostgresExportReport:
        """Copy the lake's klines (`ohlcv`), mark-price klines (`mark_price`), metrics (`open_interest`,
        `long_short_ratio`), funding (`funding_rate`) and liquidations into PostgreSQL at `dsn`, in schema
        `schema`; TimescaleDB hypertables when the extension is there (`timescale="auto"`, or "on"/"off").
        Everything the lake holds by default; re-running copies only what changed, and an interrupted
        export resumes where it stopped. `progress` receives `ProgressEvent`s of phase "export" (series
        copied or up to date of total, rows merged)."""
        request = build_export_request(
            dsn,
            market=market,
            datasets=datasets,
            intervals=intervals,
            symbols=symbols,
            start=start,
            end=end,
            schema=schema,
            timescale=timescale,
            batch_rows=batch_rows,
        )
        require_lake(self.database)
        reads = _LakeReads(self.root, request.market.value)
        return export_postgres(
            self.root, request, open_stream=reads.stream, day_sources=reads.sources, progress=progress
        )
