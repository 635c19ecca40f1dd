"""What a stream run collects (`StreamRequest`) and how it runs (`StreamOptions`), validated once.

The stage owns its request type: the CLI and `Lake.stream` build one with `build_request`, which parses the
shared vocabulary (`--market`, `--symbols` with @sets, `--channels`) and refuses bad values in one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from binance_lake.core import quirks
from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.core.vocabulary import Market
from binance_lake.realtime.channels import Channel, parse_channels

STREAM_MARKETS = (Market.UM, Market.CM)


@dataclass(frozen=True)
class StreamOptions:
    """How a stream run behaves; every time is in seconds."""

    flush_interval: float = 2.0
    """A segment of buffered rows is written (atomically) at least this often."""
    segment_rows: int = 50_000
    """…or as soon as this many rows are buffered (bounded memory)."""
    compact_interval: float = 60.0
    """Segments are merged into the normal partitions this often (and at the end)."""
    silence_timeout: float = 30.0
    """A connection that receives nothing for this long is replaced (the silence watchdog)."""
    max_streams: int = quirks.WS_MAX_STREAMS
    """Streams per connection (Binance's limit is 200)."""
    subscribe_rate: float = 4.0
    """Control messages sent per second and connection (Binance disconnects above 10)."""
    subscribe_batch: int = 50
    """Streams named in one SUBSCRIBE message."""
    max_age: float = quirks.WS_CONNECTION_LIFE_SECONDS - 1800
    """A connection is replaced (planned) after this long, before Binance's 24 h cut."""
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    redis_ttl: float = 86_400.0
    """Seconds a Redis latest-value hash lives after its last update."""
    final_compact_wait: float = 10.0
    """At the end, seconds the last compaction waits for another writer (a sync) to let the writer lock go;
    after that the segments stay on disk and the next run compacts them at its start."""
    queue_size: int = 10_000
    """Events kept for a slow `async for` consumer before the oldest are dropped (and counted)."""

    def __post_init__(self) -> None:
        for name in ("flush_interval", "compact_interval", "silence_timeout", "subscribe_rate", "max_age"):
            if not getattr(self, name) > 0:
                raise UsageError(f"stream option {name} must be a positive number of seconds")
        if not 0 < self.max_streams <= quirks.WS_MAX_STREAMS:
            raise UsageError(f"at most {quirks.WS_MAX_STREAMS} streams per connection (Binance's limit)")
        if self.subscribe_rate >= quirks.WS_MAX_INCOMING_PER_SECOND:
            raise UsageError(
                f"subscribe_rate must stay below Binance's {quirks.WS_MAX_INCOMING_PER_SECOND} messages/s"
            )


@dataclass(frozen=True)
class StreamRequest:
    """The streams of one run: a market, its symbols, the channels, and the all-market liquidation stream."""

    market: Market
    symbols: tuple[str, ...]
    channels: tuple[Channel, ...]
    all_liquidations: bool = False
    redis_url: str | None = None
    options: StreamOptions = field(default_factory=StreamOptions)

    def stream_names(self) -> list[str]:
        names = [c.stream_name(s) for s in self.symbols for c in self.channels]
        if self.all_liquidations:
            names.append("!forceOrder@arr")
        return list(dict.fromkeys(names))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


def parse_duration(text: str | None) -> float | None:
    """`--for 90s|15m|2h|1d` (a bare number is seconds) → seconds; None runs until stopped."""
    if text is None or text == "":
        return None
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(f"--for {text!r} is not a duration; expected e.g. 90s, 15m, 2h or 1d")
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    return float(match.group(1)) * factor


def build_request(
    market: str | Market,
    symbols: Sequence[str],
    channels: str | Sequence[str],
    *,
    all_liquidations: bool = False,
    redis_url: str | None = None,
    options: StreamOptions | None = None,
) -> StreamRequest:
    try:
        chosen = Market(market)
    except ValueError:
        raise UsageError(f"--market {market!r}: streams exist for um and cm") from None
    if chosen not in STREAM_MARKETS:
        raise UsageError(f"--market {chosen.value}: streams exist for um and cm")
    parsed = parse_channels(channels if isinstance(channels, str) else ",".join(channels))
    names = tuple(dict.fromkeys(s.upper() for s in symbols))
    if not names and not all_liquidations:
        raise UsageError("nothing to stream: give --symbols (or --all), or --all-liquidations")
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"--redis {redis_url!r} must be a redis://, rediss:// or unix:// URL")
    return StreamRequest(chosen, names, parsed, all_liquidations, redis_url, options or StreamOptions())


__all__ = ["StreamOptions", "StreamRequest", "build_request", "parse_duration", "split_list"]
