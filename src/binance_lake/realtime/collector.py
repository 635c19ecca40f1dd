"""A whole stream run: connections over the request's streams, events into segments and sinks, holes repaired.

`Collector(settings, request)` is an async context manager: entering compacts segments a crashed run left,
reads the last stored kline and aggTrade of every series from the lake, and starts one `StreamConnection` per
`max_streams` streams, the flusher and the optional Redis sink; `async for event in collector` yields the events
(a bounded queue: a slow consumer loses the oldest, counted in `stats.dropped_events`); leaving flushes and
compacts. Holes: before a connection (re)subscribes, the last stored value of each of its kline and aggTrade
series is noted; once subscribed, `repair.RestRepair` fetches everything after it from REST into the same
segments (de-duplicated by key at compaction), so no bar or trade between the drop and the new subscription is
lost. The lake's writer lock is taken only for each compaction burst (segments are written lock-free into
`.stream/segments`, which only the collector writes): a `sync` or `update` runs between bursts, and a burst
that finds the lock held is deferred to the next interval (its segments stay on disk, nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from binance_lake.binance.rest_client import RestClient
from binance_lake.binance.rest_market import MarketRestClient
from binance_lake.core.errors import BinanceLakeError, LakeLocked
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.settings import Settings
from binance_lake.core.vocabulary import Market
from binance_lake.realtime.connection import ConnectionState, StreamConnection
from binance_lake.realtime.events import StreamEvent, parse_message
from binance_lake.realtime.live_sink import LiveSink, RowSink
from binance_lake.realtime.repair import RestRepair
from binance_lake.realtime.request import StreamRequest
from binance_lake.realtime.segments import Compaction, SegmentWriter, compact, last_stored, pending_segments
from binance_lake.storage.database import LakeDatabase, WriterLock

Log = Callable[[dict[str, object]], None]

AHEAD_LIMIT = 10_000
"""Keys seen beyond a missing one that a series may hold while waiting for it (see `Collector._note`)."""
REPAIRED = ("klines", "aggTrades")
HOLD_LIMIT = 10
FINAL_REPAIR_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.2


@dataclass
class CollectorStats:
    """Counters for the live view and the final summary (they only grow, except the gauges)."""

    session: str
    started: float
    streams: int = 0
    messages: int = 0
    events: int = 0
    bad_messages: int = 0
    repaired_gaps: int = 0
    repaired_rows: int = 0
    repair_failures: int = 0
    rows_flushed: int = 0
    segments: int = 0
    rows_compacted: int = 0
    compactions_deferred: int = 0  # bursts that found the writer lock held (a sync) and waited for the next
    dropped_events: int = 0
    redis: str = "off"
    sinks: dict[str, str] = field(default_factory=dict)  # row sink (postgres) → its state
    connections: list[ConnectionState] = field(default_factory=list)
    last_event: dict[str, float] = field(default_factory=dict)
    flush_latency_ms: list[float] = field(default_factory=list)  # the last 1000 flushes' durations
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))

    @property
    def reconnects(self) -> int:
        return sum(c.reconnects for c in self.connections)

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self.connections if c.connected)

    def messages_per_second(self, now: float, window: float = 5.0) -> float:
        recent = [t for t in self._recent if t >= now - window]
        return len(recent) / window


def _series_of(market: Market, event: StreamEvent) -> SeriesKey:
    return SeriesKey(market, event.dataset, event.interval, event.symbol)


class Collector:
    def __init__(
        self,
        settings: Settings,
        request: StreamRequest,
        *,
        log: Log | None = None,
        clock: Callable[[], float] = time.monotonic,
        session_id: str | None = None,
        row_sinks: Sequence[RowSink] = (),
    ) -> None:
        self.settings = settings
        self.request = request
        self.options = request.options
        self.root = settings.root
        self.database = LakeDatabase(settings.root)
        self._log_to = log
        self.clock = clock
        session = session_id or f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        self.stats = CollectorStats(session=session, started=clock())
        self.upstream_ref = f"stream:{session}"
        self.writer = SegmentWriter(settings.root, session)
        self._lock = WriterLock(settings.root)
        self._stop = asyncio.Event()
        self._received_all = asyncio.Event()  # set once no connection can deliver another event
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._repair: RestRepair | None = None
        # Per repaired series, the last key up to which every key has been seen (`_note`), and keys seen
        # beyond a missing one: a reordered or lost message must leave the hole's start before it.
        self._last: dict[SeriesKey, int] = {}
        self._ahead: dict[SeriesKey, set[int]] = {}
        self._holes: dict[SeriesKey, int] = {}
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue(maxsize=request.options.queue_size)
        self._flush_lock = asyncio.Lock()
        self._early: asyncio.Task[None] | None = None
        self.redis: Any = None
        # Sinks fed each flush's rows (PostgreSQL: `stream --postgres`); they survive their outages.
        self.live_sinks = [LiveSink(sink, log=self.log) for sink in row_sinks]
        self.symbols: tuple[str, ...] = request.symbols
        self._rng = random.Random()

    # --- logging -----------------------------------------------------------------------------------------

    def log(self, record: dict[str, object]) -> None:
        if self._log_to is not None:
            self._log_to({"time": round(time.time(), 3), **record})

    # --- start and stop ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.settings.fstream_url if self.request.market is Market.UM else self.settings.dstream_url

    async def __aenter__(self) -> Collector:
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def _start(self) -> None:
        leftover = await self.compact()
        if leftover is not None and leftover.segments:
            self.log({"event": "compacted_leftovers", "segments": leftover.segments, "rows": leftover.rows})
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, sock_connect=10))
        self._repair = RestRepair(MarketRestClient(self._session, self.settings))
        if self.request.symbols == ("*",):
            self.symbols = await self._all_symbols()
        names = self._stream_names()
        self.stats.streams = len(names)
        await asyncio.to_thread(self._load_last)
        if self.request.redis_url:
            from binance_lake.realtime.redis_sink import RedisSink

            self.redis = RedisSink(
                self.request.redis_url,
                self.request.market.value,
                ttl_seconds=self.options.redis_ttl,
                log=self.log,
            )
            self._tasks.append(asyncio.create_task(self.redis.run(self._stop)))
        for live in self.live_sinks:
            self._tasks.append(asyncio.create_task(live.run(self._stop)))
            self.stats.sinks[live.name] = live.state
        size = self.options.max_streams
        for index, start in enumerate(range(0, len(names), size)):
            state = ConnectionState(index, names[start : start + size])
            self.stats.connections.append(state)
            connection = StreamConnection(
                state,
                self.base_url,
                self._session,
                self.options,
                on_text=self._on_text,
                on_connecting=self._on_connecting,
                on_subscribed=self._on_subscribed,
                log=self.log,
                clock=self.clock,
                rng=self._rng,
            )
            self._tasks.append(asyncio.create_task(connection.run(self._stop)))
        self._tasks.append(asyncio.create_task(self._flusher()))
        self.log(
            {
                "event": "started",
                "session": self.stats.session,
                "streams": len(names),
                "connections": len(self.stats.connections),
            }
        )

    async def _all_symbols(self) -> tuple[str, ...]:
        assert self._session is not None
        listed = await RestClient(self._session, self.settings).exchange_info(self.request.market)
        wanted = "PERPETUAL" if self.request.market is Market.UM else None
        return tuple(
            s.symbol
            for s in listed
            if s.status == "TRADING" and (wanted is None or s.contract_type == wanted)
        )

    def _stream_names(self) -> list[str]:
        names = [c.stream_name(s) for s in self.symbols for c in self.request.channels]
        if self.request.all_liquidations:
            names.append("!forceOrder@arr")
        return list(dict.fromkeys(names))

    def _repaired_series(self) -> list[SeriesKey]:
        out = []
        for symbol in self.symbols:
            for channel in self.request.channels:
                if channel.dataset in REPAIRED:
                    out.append(SeriesKey(self.request.market, channel.dataset, channel.interval, symbol))
        return out

    def _load_last(self) -> None:
        for series in self._repaired_series():
            if series.dataset == "klines":
                value = last_stored(self.root, series, "open_time")
                if value is not None:
                    self._last[series] = int(value.timestamp() * 1000)
            else:
                value = last_stored(self.root, series, "agg_trade_id")
                if value is not None:
                    self._last[series] = int(value)

    async def stop(self) -> None:
        self._stop.set()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._stop.set()
        for task in [*self._tasks, *([self._early] if self._early else [])]:
            if not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 5.0)
        self._received_all.set()
        try:
            if self._repair is not None and self._holes:
                # Holes whose repair the stop interrupted: filled now, or the rows after them would be stored
                # with the hole in front.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._repair_holes(list(self._holes)), FINAL_REPAIR_SECONDS)
            await self.flush()
            deadline = self.clock() + self.options.final_compact_wait
            while await self.compact() is None and self.clock() < deadline:  # noqa: ASYNC110 - a flock: no event
                await asyncio.sleep(LOCK_POLL_SECONDS)
            if self.writer.segments and pending_segments(self.root):
                self.log({"event": "segments_left", "reason": "another process held the writer lock"})
        finally:
            for live in self.live_sinks:
                await live.drain()
                self.stats.sinks[live.name] = live.state
            if self.redis is not None:
                await self.redis.drain()
                with contextlib.suppress(Exception):
                    await self.redis.close()
            if self._session is not None:
                await self._session.close()
            self.log(
                {
                    "event": "stopped",
                    "rows_flushed": self.stats.rows_flushed,
                    "reconnects": self.stats.reconnects,
                }
            )

    async def run_for(self, seconds: float | None) -> None:
        """Run until `seconds` pass (None: until stopped or cancelled)."""
        if seconds is None:
            await self._stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    # --- events ------------------------------------------------------------------------------------------

    def _on_text(self, text: str) -> None:
        self.stats.messages += 1
        now = self.clock()
        self.stats._recent.append(now)
        try:
            event = parse_message(text)
        except BinanceLakeError as error:
            self.stats.bad_messages += 1
            self.log({"event": "bad_message", "reason": str(error)})
            return
        if event is None:
            return
        self.stats.events += 1
        self.stats.last_event[event.stream] = now
        row = event.row()
        if row is not None:
            series = _series_of(self.request.market, event)
            self.writer.add(series, row)
            if series.dataset == "klines":
                self._note(series, int(event.data["k"]["t"]))
            elif series.dataset == "aggTrades":
                self._note(series, int(event.data["a"]))
            if self.writer.buffered >= self.options.segment_rows and self._early is None:
                # A full buffer is written now rather than at the next interval (bounded memory).
                self._early = asyncio.create_task(self._flush_early())
        if self.redis is not None:
            self.redis.offer(event)
        if self._queue.full():
            self._queue.get_nowait()
            self.stats.dropped_events += 1
        self._queue.put_nowait(event)

    def _note(self, series: SeriesKey, value: int, *, through: bool = False) -> None:
        """Count `value` (a closed bar's open time, an aggTrade id) as seen. `_last` only moves over keys with
        none missing before them — bars are one interval apart, aggTrade ids consecutive — so when a message
        comes out of order and the connection drops before the one it overtook, the hole starts before the
        missing one and the repair fetches it. `through`: every key up to `value` is known (a REST repair)."""
        last = self._last.get(series)
        if last is None:
            self._last[series] = value
            return
        if value <= last:
            return
        step = series.interval.milliseconds if series.dataset == "klines" and series.interval else 1
        ahead = self._ahead.setdefault(series, set())
        if through:
            last = value
            ahead.difference_update({key for key in ahead if key <= last})
        else:
            ahead.add(value)
        while last + step in ahead:
            last += step
            ahead.discard(last)
        if len(ahead) > AHEAD_LIMIT:
            # Keys missing for this long are not a reordering but a silent loss inside one connection: the
            # watermark moves on (bounded memory) and the rows stay where `check` and `sync` find them.
            self.log({"event": "gap_left", "series": series.path, "after": last, "keys": len(ahead)})
            last = max(ahead)
            ahead.clear()
        self._last[series] = last

    def _on_connecting(self, state: ConnectionState) -> None:
        # The hole starts at what is stored now; live events of the new connection must not move it.
        wanted = set(state.streams)
        for series in self._repaired_series():
            if self._stream_of(series) in wanted and series in self._last and series not in self._holes:
                self._holes[series] = self._last[series]

    def _stream_of(self, series: SeriesKey) -> str:
        for channel in self.request.channels:
            if channel.dataset == series.dataset and channel.interval == series.interval:
                return channel.stream_name(series.symbol)
        return ""

    async def _on_subscribed(self, state: ConnectionState) -> None:
        wanted = set(state.streams)
        await self._repair_holes([s for s in self._holes if self._stream_of(s) in wanted])

    async def _repair_holes(self, holes: list[SeriesKey]) -> None:
        assert self._repair is not None
        for series in holes:
            after = self._holes.get(series)
            if after is None:
                continue  # repaired meanwhile
            try:
                rows = await self._repair.fetch(series, after)
            except BinanceLakeError as error:
                self.stats.repair_failures += 1
                self.log({"event": "repair_failed", "series": series.path, "reason": str(error)})
                continue  # the hole stays noted: the next reconnect tries again
            self._holes.pop(series, None)
            if rows:
                self.writer.extend(series, rows)
                self.stats.repaired_gaps += 1
                self.stats.repaired_rows += len(rows)
                key = "open_time" if series.dataset == "klines" else "agg_trade_id"
                last = rows[-1][key]
                self._note(
                    series,
                    int(last.timestamp() * 1000) if series.dataset == "klines" else int(last),
                    through=True,
                )
                self.log({"event": "repaired", "series": series.path, "after": after, "rows": len(rows)})

    async def __anext__(self) -> StreamEvent:
        while True:
            if self._received_all.is_set() and self._queue.empty():
                raise StopAsyncIteration
            try:
                return await asyncio.wait_for(self._queue.get(), 0.25)
            except TimeoutError:
                continue

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    # --- disk --------------------------------------------------------------------------------------------

    def _held(self) -> list[SeriesKey]:
        """Series whose live rows wait in memory: a hole before them is not repaired yet. Written to disk, they
        would move the series' last stored value past the hole, and a crash then would leave it for good; held,
        a crash loses them and the restart repairs from before the hole. Bounded: past `HOLD_LIMIT` segments'
        worth they are written anyway, the hole left for the next repair (or `sync`)."""
        if self.writer.buffered > HOLD_LIMIT * self.options.segment_rows:
            return []
        return list(self._holes)

    async def flush(self, *, compact_too: bool = False) -> None:
        async with self._flush_lock:
            pending = self.writer.take(hold=self._held())
            if pending:
                started = time.time()
                rows = await asyncio.to_thread(self.writer.write, pending)
                self.stats.rows_flushed += rows
                self.stats.segments = self.writer.segments
                self.stats.flush_latency_ms.append((time.time() - started) * 1000)
                del self.stats.flush_latency_ms[:-1000]  # the recent ones: bounded memory on a long run
                for live in self.live_sinks:  # durable in the lake first, then handed on
                    live.offer(pending)
            if compact_too:
                await self.compact()

    async def compact(self) -> Compaction | None:
        """One compaction burst under the writer lock; None when another writer holds it (deferred)."""
        result = await asyncio.to_thread(self._compact_locked)
        if result is None:
            self.stats.compactions_deferred += 1
            if self.stats.compactions_deferred == 1:
                self.log({"event": "compaction_deferred", "reason": "another process is writing the lake"})
            return None
        self.stats.rows_compacted += result.rows
        return result

    def _compact_locked(self) -> Compaction | None:
        try:
            self._lock.acquire()
        except LakeLocked:
            return None
        try:
            return compact(self.root, self.database, self.upstream_ref)
        finally:
            self._lock.release()

    async def _flush_early(self) -> None:
        try:
            await self.flush()
        except BinanceLakeError as error:
            self.log({"event": "flush_failed", "reason": str(error)})
        finally:
            self._early = None

    async def _flusher(self) -> None:
        last_compact = self.clock()
        interval = self.options.flush_interval
        due = self.clock() + interval
        while not self._stop.is_set():
            # On a fixed cadence (not interval + the last write's time): a row waits at most one interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, due - self.clock()))
            if self._stop.is_set():
                return
            due = max(due + interval, self.clock())
            try:
                await self.flush()
                # A burst that found the lock held (a sync) is tried again at the next flush.
                if (
                    self.clock() - last_compact >= self.options.compact_interval
                    and await self.compact() is not None
                ):
                    last_compact = self.clock()
            except BinanceLakeError as error:
                self.log({"event": "flush_failed", "reason": str(error)})
            if self.redis is not None:
                self.stats.redis = self.redis.state
            for live in self.live_sinks:
                self.stats.sinks[live.name] = live.state
