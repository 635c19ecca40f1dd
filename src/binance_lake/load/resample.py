"""Kline bars to a coarser interval, equal to the bars Binance itself publishes at that interval.

Each bucket: open = first open, high = max, low = min, close = last close, volume / quote_volume / count /
taker columns summed; open_time = the bucket start; close_time = the next bucket's start minus Binance's tick
(1 ms, or 1 µs for bars of the spot microsecond era, whose close times end in 999999 µs: issue
https://github.com/binance/binance-public-data/issues/386). The tick is read from the input's own close times.

Buckets are aligned like Binance's bars: fixed intervals on the Unix epoch, 1w on Mondays 00:00 UTC, 1mo on
the 1st of each month, 3d on the phase the archive's daily 3d files show (`core.vocabulary.is_daily_file_date`).

Partial buckets: a bucket at either end of a symbol's input that the input does not fully span (it starts before
the symbol's first input bar, or ends after its last) would differ from Binance's bar, so it is dropped
(`drop_partial=False` keeps it). Buckets with holes inside (exchange maintenance) are kept, as Binance keeps them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.datasets import TIMESTAMP, get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import ALL_INTERVALS, Interval, Market, is_daily_file_date, parse_interval
from binance_lake.load.connection import cursor

KLINE_SCHEMA = get_dataset("klines").schema(Market.UM)
REQUIRED = ("open_time", "open", "high", "low", "close", "close_time")
SUMMED = ("volume", "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume")
US_PER_MS = 1000
_EPOCH = dt.date(1970, 1, 1)


def phase_us(interval: Interval) -> int:
    """Offset of the bucket grid from the Unix epoch, in µs: Monday for 1w, the archive's phase for 3d."""
    if interval is Interval.W1:
        return 4 * 86_400_000_000  # 1970-01-01 was a Thursday; the first Monday is 1970-01-05
    if interval is Interval.D3:
        days = next(k for k in range(3) if is_daily_file_date(interval, _EPOCH + dt.timedelta(days=k)))
        return days * 86_400_000_000
    return 0


def source_interval(table: pa.Table) -> Interval:
    """The interval of the input bars, from close_time − open_time (+ the 1 ms / 1 µs tick)."""
    if table.num_rows == 0:
        raise UsageError("cannot resample an empty table: there are no bars to infer their interval from")
    spans = pc.subtract(
        table.column("close_time").cast(pa.int64()), table.column("open_time").cast(pa.int64())
    )
    # Round the span up to whole milliseconds: 3599999 ms and 3599999999 µs both mean one hour.
    rounded = pc.multiply(pc.divide(pc.add(spans, US_PER_MS), US_PER_MS), US_PER_MS)
    lengths = set(pc.unique(rounded).to_pylist())
    by_length = {i.milliseconds * US_PER_MS: i for i in ALL_INTERVALS if not i.is_calendar}
    if len(lengths) == 1 and (length := lengths.pop()) in by_length:
        return by_length[length]
    raise UsageError("the input bars do not share one fixed Binance interval, so they cannot be resampled")


def fits(source: Interval, target: Interval) -> bool:
    """Whether `target` bars are made of whole `source` bars on Binance's grid."""
    if target.is_calendar:
        return source.milliseconds <= Interval.D1.milliseconds
    return target.milliseconds > source.milliseconds and target.milliseconds % source.milliseconds == 0


def check_target(source: Interval, target: Interval) -> None:
    if not fits(source, target):
        coarser = [i.value for i in ALL_INTERVALS if fits(source, i)] or ["none"]
        raise UsageError(
            f"cannot resample {source.value} bars to {target.value}; coarser intervals made of whole "
            f"{source.value} bars are: {', '.join(coarser)}"
        )


def _bucket_sql(target: Interval) -> tuple[str, str]:
    """SQL for a row's bucket start and the bucket's end (the next bucket's start)."""
    if target.is_calendar:
        return "date_trunc('month', open_time)", "bucket + INTERVAL 1 MONTH"
    size = target.milliseconds * US_PER_MS
    offset = phase_us(target)
    start = f"make_timestamp(epoch_us(open_time) - (((epoch_us(open_time) - {offset}) % {size}) + {size}) % {size})::TIMESTAMPTZ"
    return start, f"bucket + INTERVAL {size} MICROSECOND"


def resample_table(table: pa.Table, interval: str | Interval, *, drop_partial: bool = True) -> pa.Table:
    """Resample Arrow kline bars (optionally with a `symbol` column; other columns are dropped)."""
    target = interval if isinstance(interval, Interval) else parse_interval(interval)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise UsageError(f"resample needs kline columns; missing: {', '.join(missing)}")
    has_symbol = "symbol" in table.column_names
    summed = [c for c in SUMMED if c in table.column_names]
    names = [*(["symbol"] if has_symbol else []), *REQUIRED, *summed]
    source = table.select(names).cast(
        pa.schema(
            [pa.field(n, TIMESTAMP if n.endswith("_time") else table.schema.field(n).type) for n in names]
        )
    )
    check_target(source_interval(source), target)
    bucket, bucket_end = _bucket_sql(target)
    symbol = "symbol" if has_symbol else "''"
    sums = "".join(
        f", {'sum' if c == 'count' else 'fsum'}({c}){'::BIGINT' if c == 'count' else ''} AS {c}"
        for c in summed
    )
    edge = "AND bucket >= first_open AND bucket_end <= last_end" if drop_partial else ""
    query = f"""
        WITH bucketed AS (
            SELECT *, {symbol} AS sym, {bucket} AS bucket FROM source
        ), spans AS (
            SELECT sym, min(open_time) AS first_open,
                   max(close_time) + CASE WHEN epoch_us(max(close_time)) % 1000 = 999
                                          THEN INTERVAL 1 MICROSECOND ELSE INTERVAL 1 MILLISECOND END AS last_end
            FROM bucketed GROUP BY sym
        ), grouped AS (
            SELECT sym, bucket, {bucket_end} AS bucket_end,
                   arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                   arg_max(close, open_time) AS close, arg_max(close_time, open_time) AS last_close{sums}
            FROM bucketed GROUP BY sym, bucket
        )
        SELECT g.sym AS symbol, g.bucket AS open_time, g.open, g.high, g.low, g.close,
               g.bucket_end - CASE WHEN epoch_us(g.last_close) % 1000 = 999
                                   THEN INTERVAL 1 MICROSECOND ELSE INTERVAL 1 MILLISECOND END AS close_time
               {"".join(f", g.{c}" for c in summed)}
        FROM grouped g JOIN spans s USING (sym)
        WHERE true {edge}
        ORDER BY g.sym, g.bucket
    """
    with cursor() as handle:
        handle.register("source", source)
        try:
            result = handle.sql(query).to_arrow_table()
        finally:
            handle.unregister("source")
    order = [n for n in KLINE_SCHEMA.names if n in result.column_names]
    schema = pa.schema(
        [*([pa.field("symbol", pa.string())] if has_symbol else []), *(KLINE_SCHEMA.field(n) for n in order)]
    )
    out: pa.Table = result.select(schema.names).cast(schema)
    return out


def resample(frame: Any, interval: str | Interval, *, drop_partial: bool = True) -> Any:
    """Resample a pandas, polars or Arrow frame of kline bars; the result has the input's frame type."""
    if isinstance(frame, pa.Table):
        return resample_table(frame, interval, drop_partial=drop_partial)
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        result = resample_table(
            pa.Table.from_pandas(frame, preserve_index=False), interval, drop_partial=drop_partial
        )
        out: pd.DataFrame = result.to_pandas()
        return out
    if module == "polars":
        import polars as pl

        return pl.from_arrow(resample_table(frame.to_arrow(), interval, drop_partial=drop_partial))
    raise UsageError(f"resample takes a pandas, polars or Arrow table, not {type(frame).__name__}")
