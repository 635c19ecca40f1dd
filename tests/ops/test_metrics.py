"""Metrics: each progress event's growth is counted once; a bad port is one sentence."""

from __future__ import annotations

import socket

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.progress import Phase, Progress
from binance_lake.ops.metrics import Metrics, MetricsServer


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels or None)
    assert found is not None, name
    return found


def test_events_are_counted_by_their_growth() -> None:
    metrics = Metrics()
    sync = Progress(Phase.SYNC, metrics.sink())
    listing = Progress(Phase.LISTING, metrics.sink())
    sync.expect(5)
    sync.add(done=2, bytes_done=300, rows=20)
    listing.add(done=4, pages=4)
    sync.add(done=1, failures=1)  # a failed file is done but not synced
    assert value(metrics, "binance_lake_files_synced_total") == 2
    assert value(metrics, "binance_lake_bytes_synced_total") == 300
    assert value(metrics, "binance_lake_rows_written_total") == 20
    assert value(metrics, "binance_lake_failures_total", phase="sync") == 1
    metrics.reset()
    again = Progress(Phase.SYNC, metrics.sink())
    again.add(done=1, bytes_done=50)
    assert value(metrics, "binance_lake_files_synced_total") == 3


def test_a_port_in_use_is_one_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(Metrics(), port)


def test_stream_totals_grow_by_what_is_new() -> None:
    metrics = Metrics()
    metrics.stream_totals(messages=10, reconnects=1, repairs=0)
    metrics.stream_totals(messages=25, reconnects=1, repairs=2)
    assert value(metrics, "binance_lake_ws_messages_total") == 25
    assert value(metrics, "binance_lake_ws_reconnects_total") == 1
    assert value(metrics, "binance_lake_ws_repairs_total") == 2
