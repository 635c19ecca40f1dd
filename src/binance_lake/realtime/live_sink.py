"""Flushed stream rows handed on to a row sink (PostgreSQL, `stream --postgres`), surviving its outages.

The collector offers every flush's rows (`offer(pending)`: rows by series, as `segments.SegmentWriter.take`
hands them over); a writer task turns them into Arrow tables and calls the sink's `write` in a thread. The
sink is anything with `name`, `write(batches) -> rows` and `close()` (`export/postgres/stream_tables.py`'s
`StreamTables`: the facade passes it in, since realtime/ may not import export/). When a write fails the
collector keeps running: the sink says so once (`<name>_down`), keeps the rows (oldest dropped past
`max_rows`, counted), tries again every `retry_seconds` and writes everything kept when the sink answers
(`<name>_back`). Batches are written again whole, so the sink's writes must be idempotent (they are: each
replaces exactly the (symbol, time)s it carries).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.series_key import SeriesKey
from binance_lake.realtime.segments import to_table
from binance_lake.storage.parquet import normalize

Batch = tuple[str, str, str | None, pa.Table]
"""(market, dataset, interval or None, rows: the dataset's lake columns and `symbol`)."""

MAX_KEPT_ROWS = 2_000_000


class RowSink(Protocol):
    name: str
    datasets: frozenset[str]  # the datasets it takes; others are not offered

    def write(self, batches: Sequence[Batch]) -> int: ...

    def close(self) -> None: ...


def batches_of(pending: Mapping[SeriesKey, list[dict[str, Any]]]) -> list[Batch]:
    """One batch per (market, dataset, interval) of `pending`, every symbol's rows together."""
    groups: dict[tuple[str, str, str | None], list[pa.Table]] = {}
    for series, rows in pending.items():
        if not rows:
            continue
        table = normalize(to_table(series, rows), get_dataset(series.dataset))
        table = table.append_column("symbol", pa.array([series.symbol] * table.num_rows, pa.string()))
        key = (series.market.value, series.dataset, series.interval.value if series.interval else None)
        groups.setdefault(key, []).append(table)
    return [(m, d, i, pa.concat_tables(tables)) for (m, d, i), tables in groups.items()]


class LiveSink:
    """Feeds a `RowSink` from the collector's flushes; the collector keeps running when it fails."""

    def __init__(
        self,
        sink: RowSink,
        *,
        log: Callable[[dict[str, object]], None],
        retry_seconds: float = 1.0,
        max_rows: int = MAX_KEPT_ROWS,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.log = log
        self.retry_seconds = retry_seconds
        self.max_rows = max_rows
        self._kept: deque[tuple[float, Batch]] = deque()  # (flushed at, batch), oldest first
        self._wake = asyncio.Event()
        self.up = True
        self.rows_written = 0
        self.failures = 0
        self.dropped_rows = 0
        self.latencies_ms: list[float] = []  # flush → committed, per write

    @property
    def state(self) -> str:
        return "up" if self.up else f"DOWN (keeping {self.kept_rows} rows)"

    @property
    def kept_rows(self) -> int:
        return sum(b[3].num_rows for _, b in self._kept)

    def offer(self, pending: Mapping[SeriesKey, list[dict[str, Any]]]) -> None:
        wanted = {s: r for s, r in pending.items() if r and s.dataset in self.sink.datasets}
        if not wanted:
            return
        now = time.time()
        for batch in batches_of(wanted):
            self._kept.append((now, batch))
        while self.kept_rows > self.max_rows and len(self._kept) > 1:
            _, lost = self._kept.popleft()
            if not self.dropped_rows:
                self.log({"event": f"{self.name}_dropping", "reason": f"more than {self.max_rows} rows kept"})
            self.dropped_rows += lost[3].num_rows
        self._wake.set()

    async def _write_kept(self) -> None:
        taken = list(self._kept)
        self._kept.clear()
        try:
            rows = await asyncio.to_thread(self.sink.write, [b for _, b in taken])
        except BaseException:
            self._kept.extendleft(reversed(taken))  # back in front of what arrived meanwhile
            raise
        now = time.time()
        self.latencies_ms.extend((now - at) * 1000 for at, _ in taken)
        del self.latencies_ms[:-10_000]
        self.rows_written += rows
        if not self.up:
            self.up = True
            self.log({"event": f"{self.name}_back", "written": rows})

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.up:
            self.up = False
            self.log({"event": f"{self.name}_down", "reason": str(error)[:300]})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._kept:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            try:
                await self._write_kept()
            except BinanceLakeError as error:
                self._failed(error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def drain(self, attempts: int = 3) -> None:
        """Write what the last flush left (a few attempts), then close the sink."""
        try:
            for attempt in range(attempts):
                if not self._kept:
                    return
                try:
                    await self._write_kept()
                    return
                except BinanceLakeError as error:
                    self._failed(error)
                    if attempt < attempts - 1:
                        await asyncio.sleep(self.retry_seconds / 4)
            if self._kept:
                self.log({"event": f"{self.name}_unwritten", "rows": self.kept_rows})
        finally:
            await asyncio.to_thread(self.sink.close)
