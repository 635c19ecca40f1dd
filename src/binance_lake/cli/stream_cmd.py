"""`binance-lake stream`: collect WebSocket market streams into the lake, with a live view (rich) on stderr.

The view shows connections, streams, messages/s, the stalest streams' last event age, reconnects, repaired gaps
and rows flushed; `binance-lake monitor` sees the same counters in the run's live status file, and
`--metrics-port` serves them (messages, reconnects, repairs) to Prometheus. At the end the run's summary is
printed in `--format` (table, csv or json). `--json-log FILE` appends one JSON line per notable event (connect,
disconnect, repair, Redis down/back, stop). Ctrl-C stops cleanly: buffered rows are flushed and compacted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from binance_lake.cli.observe import METRICS_PORT, metrics_served
from binance_lake.cli.options import FORMAT
from binance_lake.cli.render import OutputFormat, err_console, print_record
from binance_lake.cli.state import state
from binance_lake.core.errors import UsageError
from binance_lake.realtime.channels import DEFAULT_CHANNELS

if TYPE_CHECKING:
    from binance_lake.ops.live import LiveStatus
    from binance_lake.ops.metrics import Metrics
    from binance_lake.realtime.collector import Collector, CollectorStats


def render_stats(stats: CollectorStats, now: float) -> Group:
    """The live view: a summary line, the connections, and the stalest streams."""
    summary = Text(
        f"{stats.open_connections}/{len(stats.connections)} connections · {stats.streams} streams · "
        f"{stats.messages_per_second(now):.0f} msg/s · {stats.events} events · {stats.reconnects} reconnects · "
        f"{stats.repaired_gaps} gaps repaired ({stats.repaired_rows} rows) · {stats.rows_flushed} rows flushed "
        f"in {stats.segments} segments · {stats.rows_compacted} compacted · redis {stats.redis}"
        + "".join(f" · {name} {state}" for name, state in stats.sinks.items())
    )
    connections = Table("conn", "streams", "state", "messages", "reconnects", "last reason", box=None)
    for c in stats.connections[:20]:
        connections.add_row(
            str(c.index), str(len(c.streams)), "open" if c.connected else "down", str(c.messages),
            str(c.reconnects), c.last_reason[:60],
        )  # fmt: skip
    stale = Table("stream", "last event age", box=None)
    for name, seen in sorted(stats.last_event.items(), key=lambda kv: kv[1])[:8]:
        stale.add_row(name, f"{now - seen:.1f} s")
    return Group(summary, connections, stale)


def _summary(stats: CollectorStats, seconds: float) -> dict[str, Any]:
    return {
        "session": stats.session, "seconds": round(seconds, 1), "streams": stats.streams,
        "connections": len(stats.connections), "messages": stats.messages, "events": stats.events,
        "reconnects": stats.reconnects, "repaired_gaps": stats.repaired_gaps, "repaired_rows": stats.repaired_rows,
        "repair_failures": stats.repair_failures, "rows_flushed": stats.rows_flushed,
        "rows_compacted": stats.rows_compacted, "dropped_events": stats.dropped_events, "redis": stats.redis,
        "postgres": stats.sinks.get("postgres", "off"), "compactions_deferred": stats.compactions_deferred,
    }  # fmt: skip


def _wall(monotonic: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - monotonic)


def _observe(stats: CollectorStats, status: LiveStatus, metrics: Metrics | None) -> None:
    """The collector's counters into its live status file (for `monitor`) and the metrics (when served)."""
    # The newest event as wall time, for `health`'s `[alerts] max_stream_silence` (stats hold monotonic times).
    newest = max(stats.last_event.values(), default=None)
    last_event_at = None if newest is None else _wall(newest).isoformat()
    status.publish(
        phase="stream", done=stats.events, rows=stats.rows_flushed, streams=stats.streams,
        reconnects=stats.reconnects, repaired_gaps=stats.repaired_gaps, last_event_at=last_event_at,
    )  # fmt: skip
    if metrics is not None:
        metrics.stream_totals(
            messages=stats.messages, reconnects=stats.reconnects, repairs=stats.repaired_gaps
        )


async def _run(
    collector: Collector, seconds: float | None, live: bool, status: LiveStatus, metrics: Metrics | None
) -> None:
    import asyncio

    async with collector:
        runner = asyncio.create_task(collector.run_for(seconds))
        view = Live(
            render_stats(collector.stats, time.monotonic()), console=err_console, refresh_per_second=2
        )
        with view if live else contextlib.nullcontext():
            while not runner.done():
                await asyncio.wait({runner}, timeout=0.5)
                _observe(collector.stats, status, metrics)
                if live:
                    view.update(render_stats(collector.stats, time.monotonic()))


def stream_command(
    ctx: typer.Context,
    market: str = typer.Option("um", "--market", help="um or cm."),
    symbols: str | None = typer.Option(None, "--symbols", help="Comma-separated symbols or @set names."),
    all_symbols: bool = typer.Option(
        False, "--all", help="Every trading perpetual of the market (exchangeInfo)."
    ),
    channels: str = typer.Option(
        DEFAULT_CHANNELS,
        "--channels",
        help="kline_<interval>, markPrice or markPrice@1s, aggTrade, forceOrder.",
    ),
    all_liquidations: bool = typer.Option(
        False, "--all-liquidations", help="Also the all-market liquidation stream (!forceOrder@arr)."
    ),
    redis: str | None = typer.Option(
        None, "--redis", help="Keep latest values in Redis (redis://HOST:PORT/DB)."
    ),
    postgres: str | None = typer.Option(
        None,
        "--postgres",
        "--dsn",
        help="Also write flushed rows into PostgreSQL (postgresql://USER@HOST/DB).",
    ),
    duration: str | None = typer.Option(None, "--for", help="Stop after this long (90s, 15m, 2h, 1d)."),
    json_log: Path | None = typer.Option(None, "--json-log", help="Append one JSON line per notable event."),
    flush_interval: float = typer.Option(
        2.0, "--flush-interval", min=0.05, help="Seconds between segment flushes."
    ),
    compact_interval: float = typer.Option(
        60.0, "--compact-interval", min=0.1, help="Seconds between compactions into the partitions."
    ),
    silence_timeout: float = typer.Option(
        30.0, "--silence-timeout", min=0.1, help="Replace a connection silent this long."
    ),
    metrics_port: int | None = METRICS_PORT,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Collect real-time streams into the lake (closed klines, aggTrades, markPrice, liquidations), no holes."""
    from binance_lake.binance import event_loop
    from binance_lake.lake import Lake
    from binance_lake.ops.live import LiveStatus
    from binance_lake.realtime.request import StreamOptions, parse_duration

    if bool(symbols) == all_symbols and not all_liquidations:
        raise UsageError("give either --symbols or --all (or --all-liquidations alone)")
    seconds = parse_duration(duration)
    settings = state(ctx).settings()
    options = StreamOptions(
        flush_interval=flush_interval, compact_interval=compact_interval, silence_timeout=silence_timeout
    )
    handle: IO[str] | None = None
    if json_log is not None:
        try:
            handle = json_log.open("a", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot open --json-log {json_log}: {error.strerror or error}") from None

    def log(record: dict[str, object]) -> None:
        if handle is not None:
            handle.write(json.dumps(record, default=str) + "\n")
            handle.flush()

    lake = Lake(settings=settings)
    collector = lake.stream(
        symbols or "", channels, market=market, all_symbols=all_symbols,
        all_liquidations=all_liquidations, redis=redis, postgres=postgres, options=options, log=log,
    )  # fmt: skip
    started = time.monotonic()
    status = LiveStatus(lake.root, "stream")
    try:
        with (
            metrics_served(metrics_port) as metrics,
            contextlib.suppress(KeyboardInterrupt),
            status.running(),
        ):
            event_loop.run(_run(collector, seconds, err_console.is_terminal, status, metrics))
    finally:
        if handle is not None:
            handle.close()
    print_record(_summary(collector.stats, time.monotonic() - started), fmt, title="stream")
