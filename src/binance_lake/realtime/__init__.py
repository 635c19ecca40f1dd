"""Real-time collection from Binance's WebSocket market streams into the lake (issue 15).

`request.py` (what to stream, how), `channels.py` (channel names → stream names and datasets), `events.py`
(payloads → typed events and lake rows), `connection.py` (one WebSocket connection: pacing, pong, watchdog,
planned reconnect, backoff), `segments.py` (bounded segments flushed atomically, compacted into partitions),
`repair.py` (the REST fetch that fills holes), `redis_sink.py` (latest values), `collector.py` (the whole run).
"""
