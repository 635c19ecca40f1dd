"""Where a cluster sync runs: `tcp://HOST:PORT` (a running Dask scheduler) or `local:N` (a `LocalCluster` of N
worker processes on this machine, loopback only, dashboards off), parsed once from the user's text.

Pure: no Dask import, so a bad spelling is a usage error even where the `cluster` extra is not installed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings

MAX_LOCAL_WORKERS = 64
_ADDRESS = re.compile(r"^(tcp|tls)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$")
_LOCAL = re.compile(r"^local:(\d+)$")
SPELLING = "tcp://HOST:PORT (a Dask scheduler) or local:N (N worker processes here)"


@dataclass(frozen=True)
class ClusterSpec:
    """A scheduler `address`, or `local_workers` processes of a `LocalCluster` started for the run.

    `window` bounds the work items in flight (submitted and not yet recorded), so the client never holds
    more than that many results; None is 2 × the cluster's worker threads × `run.MAX_BATCH` (items a task
    runs at most). `settings` are the
    endpoints and timeouts the workers open their clients with (the client's own)."""

    address: str | None = None
    local_workers: int = 0
    window: int | None = None
    settings: Settings = dataclasses.field(default_factory=Settings)

    @property
    def text(self) -> str:
        return self.address if self.address is not None else f"local:{self.local_workers}"


def parse_cluster(text: str, settings: Settings, *, window: int | None = None) -> ClusterSpec:
    """`tcp://HOST:PORT` or `local:N`, else a `UsageError` naming both spellings."""
    value = text.strip()
    if window is not None and window < 1:
        raise UsageError(f"the cluster window must be at least 1, not {window}")
    if (local := _LOCAL.match(value)) is not None:
        workers = int(local.group(1))
        if not 1 <= workers <= MAX_LOCAL_WORKERS:
            raise UsageError(f"--cluster local:N takes 1 to {MAX_LOCAL_WORKERS} workers, not {workers}")
        return ClusterSpec(local_workers=workers, window=window, settings=worker_settings(settings))
    if (address := _ADDRESS.match(value)) is not None:
        port = int(address.group(3))
        if not 0 < port < 65536:
            raise UsageError(f"--cluster {value}: the port must be 1 to 65535")
        return ClusterSpec(address=value, window=window, settings=worker_settings(settings))
    raise UsageError(f"--cluster {text!r} is not a cluster: give {SPELLING}")


def worker_settings(settings: Settings) -> Settings:
    """`settings` as they travel to a worker: Settings' read-only mappings (`MappingProxyType`, nested in
    config tables too) cannot be pickled, plain dicts with the same entries can. Every field is converted, so a
    mapping field added to Settings later travels as well."""
    plain = {field.name: _picklable(getattr(settings, field.name)) for field in dataclasses.fields(settings)}
    return dataclasses.replace(settings, **plain)


def _picklable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _picklable(item) for key, item in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_picklable(item) for item in value)
    return value
