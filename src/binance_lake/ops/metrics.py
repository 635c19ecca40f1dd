"""Prometheus metrics of a run or of the daemon, served by `prometheus-client` on `--metrics-port`.

Each process owns one `Metrics` with its own registry (never the library's global one, so tests and several
lakes in one process do not share counters). The counters are fed by the same progress events the displays
get (`Metrics.sink`): an event carries a stage's running totals, so the sink adds the growth since the last
event of that stage. Jobs report their durations and outcomes (`job_finished`); freshness lag per series is a
gauge set after each run from the lake's status (`set_freshness`). The REST weight and WebSocket gauges are
registered here so every command exposes the same names; the stages that own them set them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from binance_lake.core.errors import UsageError
from binance_lake.core.progress import Phase, ProgressEvent, ProgressSink

PREFIX = "binance_lake"


@dataclass(frozen=True)
class Freshness:
    """How far behind one series is: its newest stored day's end versus now."""

    series: str  # "um/klines/1h/BTCUSDT"
    lag_seconds: float


class Metrics:
    """The metrics of one process (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.files = Counter(f"{PREFIX}_files_synced", "Archive files downloaded and ingested", registry=r)
        self.bytes = Counter(f"{PREFIX}_bytes_synced", "Bytes downloaded by syncs", registry=r)
        self.rows = Counter(f"{PREFIX}_rows_written", "Rows written into the lake", registry=r)
        self.failures = Counter(
            f"{PREFIX}_failures", "Files that failed or were quarantined, by stage", ["phase"], registry=r
        )
        self.job_duration = Gauge(
            f"{PREFIX}_job_duration_seconds", "Duration of each job's last run", ["job"], registry=r
        )
        self.job_runs = Counter(f"{PREFIX}_job_runs", "Job runs by outcome", ["job", "outcome"], registry=r)
        self.job_last_success = Gauge(
            f"{PREFIX}_job_last_success_timestamp_seconds",
            "When each job last ended well (Unix time)",
            ["job"],
            registry=r,
        )
        self.freshness = Gauge(
            f"{PREFIX}_freshness_lag_seconds",
            "Seconds between now and the end of each series' newest stored day",
            ["series"],
            registry=r,
        )
        self.rest_weight = Gauge(
            f"{PREFIX}_rest_weight_used_1m",
            "REST weight used in the current minute, by host",
            ["host"],
            registry=r,
        )
        self.ws_messages = Counter(f"{PREFIX}_ws_messages", "WebSocket messages received", registry=r)
        self.ws_reconnects = Counter(f"{PREFIX}_ws_reconnects", "WebSocket reconnects", registry=r)
        self.ws_repairs = Counter(f"{PREFIX}_ws_repairs", "Stream holes repaired from REST", registry=r)
        self.stream_restarts = Counter(
            f"{PREFIX}_stream_restarts", "Restarts of the daemon's supervised stream", registry=r
        )
        self.stream_up = Gauge(
            f"{PREFIX}_stream_up", "1 while the daemon's supervised stream runs, else 0", registry=r
        )
        self.alert_breached = Gauge(
            f"{PREFIX}_alert_breached",
            "1 while an [alerts] threshold is breached, else 0",
            ["alert"],
            registry=r,
        )
        self.alert_value = Gauge(
            f"{PREFIX}_alert_value", "Each [alerts] threshold's current value", ["alert"], registry=r
        )
        self.alert_limit = Gauge(
            f"{PREFIX}_alert_limit", "Each numeric [alerts] threshold's limit", ["alert"], registry=r
        )
        self._seen: dict[Phase, ProgressEvent] = {}
        self._stream = (0, 0, 0)
        self._lock = threading.Lock()

    def sink(self, downstream: ProgressSink | None = None) -> ProgressSink:
        """A progress sink that counts each event's growth, then passes the event on. A new run of a stage
        starts from zero again: `reset()` between runs (the daemon does it per job)."""

        def on_event(event: ProgressEvent, /) -> None:
            with self._lock:
                before = self._seen.get(event.phase, ProgressEvent(event.phase))
                self._seen[event.phase] = event
            if event.phase is Phase.SYNC:
                self.files.inc(max(event.done - before.done - (event.failures - before.failures), 0))
                self.bytes.inc(max(event.bytes_done - before.bytes_done, 0))
                self.rows.inc(max(event.rows - before.rows, 0))
            elif event.phase is Phase.REST:
                self.rows.inc(max(event.rows - before.rows, 0))
            self.failures.labels(event.phase.value).inc(max(event.failures - before.failures, 0))
            if downstream is not None:
                downstream(event)

        return on_event

    def stream_totals(self, *, messages: int, reconnects: int, repairs: int) -> None:
        """A collector's running totals: the counters grow by what is new since the last call."""
        with self._lock:
            before = self._stream
            self._stream = (messages, reconnects, repairs)
        self.ws_messages.inc(max(messages - before[0], 0))
        self.ws_reconnects.inc(max(reconnects - before[1], 0))
        self.ws_repairs.inc(max(repairs - before[2], 0))

    def reset(self) -> None:
        """Forget the last events: the next run's counters start from zero."""
        with self._lock:
            self._seen.clear()

    def job_finished(self, job: str, outcome: str, seconds: float, ended: dt.datetime) -> None:
        self.job_duration.labels(job).set(seconds)
        self.job_runs.labels(job, outcome).inc()
        if outcome == "ok":
            self.job_last_success.labels(job).set(ended.timestamp())

    def set_alerts(self, states: Iterable[Mapping[str, Any]]) -> None:
        """The `[alerts]` thresholds' states (`quality.alerts.AlertState.summary()`)."""
        for state in states:
            name = str(state["alert"])
            self.alert_breached.labels(name).set(1 if state["breached"] else 0)
            if state.get("value") is not None:
                self.alert_value.labels(name).set(float(state["value"]))
            if state.get("limit_value") is not None:  # a per-dataset table of limits has no single one
                self.alert_limit.labels(name).set(float(state["limit_value"]))

    def set_freshness(self, values: Iterable[Freshness]) -> None:
        for value in values:
            self.freshness.labels(value.series).set(value.lag_seconds)


class MetricsServer:
    """The HTTP endpoint (`/metrics`) of one `Metrics`, on loopback unless told otherwise."""

    def __init__(self, metrics: Metrics, port: int, *, address: str = "127.0.0.1") -> None:
        if not 0 <= port <= 65535:
            raise UsageError(f"--metrics-port must be a TCP port (0–65535), not {port}")
        try:
            self._server, self._thread = start_http_server(port, addr=address, registry=metrics.registry)
        except OSError as error:
            raise UsageError(
                f"cannot serve metrics on {address}:{port} ({error.strerror or error}); choose another "
                "--metrics-port"
            ) from None

    @property
    def port(self) -> int:
        server: WSGIServer = self._server
        return int(server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
