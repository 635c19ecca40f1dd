"""`Lake.stream(...)`: the real-time collector as an async context manager (issue 15).

    async with lake.stream(["BTCUSDT"], "kline_1m,aggTrade,markPrice@1s,forceOrder") as s:
        async for event in s:          # realtime.events.StreamEvent
            ...

The run stores what it receives into the lake (segments, compacted with provenance `stream`), repairs holes from
REST, optionally keeps Redis latest values and writes the flushed rows into PostgreSQL (`postgres=DSN`:
`ohlcv`, `liquidations`, `mark_price_updates` with source `stream`, export/postgres/stream_tables.py); leaving
the block flushes and compacts.
"""

from __future__ import annotations

from collections.abc import Sequence

from binance_lake.core.errors import UsageError
from binance_lake.facade.base import LakeBase
from binance_lake.realtime.channels import DEFAULT_CHANNELS
from binance_lake.realtime.collector import Collector, Log
from binance_lake.realtime.live_sink import RowSink
from binance_lake.realtime.request import StreamOptions, build_request


class StreamMethods(LakeBase):
    def stream(
        self,
        symbols: str | Sequence[str] | None = None,
        channels: str | Sequence[str] = DEFAULT_CHANNELS,
        *,
        market: str = "um",
        all_symbols: bool = False,
        all_liquidations: bool = False,
        redis: str | None = None,
        postgres: str | None = None,
        postgres_schema: str = "public",
        options: StreamOptions | None = None,
        log: Log | None = None,
    ) -> Collector:
        """A collector over `symbols` (names or @sets; `all_symbols`: every trading perpetual) × `channels`."""
        if all_symbols:
            names: list[str] = ["*"]
        elif isinstance(symbols, str):
            names = self.settings.expand_symbols(symbols)
        else:
            names = self.settings.expand_symbols(",".join(symbols or ()))
        request = build_request(
            market, names, channels, all_liquidations=all_liquidations, redis_url=redis, options=options
        )
        sinks: list[RowSink] = []
        if postgres is not None:
            from binance_lake.export.postgres.stream_tables import StreamTables

            if not postgres.strip():
                raise UsageError(
                    "--postgres must name a PostgreSQL database, e.g. postgresql://user@host:5432/db"
                )
            sinks.append(StreamTables(postgres, schema=postgres_schema))
        return Collector(self.settings, request, log=log, row_sinks=sinks)
