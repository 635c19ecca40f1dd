"""What every long command offers an onlooker: its live status file (for `binance-lake monitor`) and, with
`--metrics-port N`, a Prometheus endpoint (`metrics_served`). `observed(...)` wraps a command's progress sink
with both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from binance_lake.cli.render import err_console
from binance_lake.core.progress import ProgressSink

if TYPE_CHECKING:
    from binance_lake.ops.metrics import Metrics

METRICS_PORT: Any = typer.Option(
    None,
    "--metrics-port",
    min=0,
    max=65535,
    help="Serve Prometheus metrics on 127.0.0.1:PORT while this runs (0 picks a free port).",
)


@contextmanager
def metrics_served(port: int | None, metrics: Metrics | None = None) -> Iterator[Metrics | None]:
    """With a port: `metrics` (or new ones) served on 127.0.0.1:PORT while inside, its URL on stderr."""
    if port is None:
        yield None
        return
    from binance_lake.ops.metrics import Metrics, MetricsServer

    metrics = metrics or Metrics()
    server = MetricsServer(metrics, port)
    err_console.print(f"metrics: http://127.0.0.1:{server.port}/metrics", highlight=False)
    try:
        yield metrics
    finally:
        server.close()


@contextmanager
def observed(
    root: Path,
    kind: str,
    progress: ProgressSink | None,
    *,
    metrics_port: int | None = None,
    metrics: Metrics | None = None,
) -> Iterator[ProgressSink]:
    """`progress` wrapped so the run's live file and (with a port) its metrics see every event."""
    from binance_lake.ops.live import LiveStatus

    live = LiveStatus(root, kind)
    with metrics_served(metrics_port, metrics) as served, live.running():
        sink = live.sink(progress)
        yield sink if served is None else served.sink(sink)
