"""A survivorship-free universe: every symbol that traded in a window, delisted ones included: `load_universe`.

Members come from the catalog: the symbols with the dataset, market and interval that traded on any day of the
window, delisted since or not, by the rule `sync --all` uses (`catalog.queries.traded_sql`; `…SETTLED`
settlement series are not trading), plus any series the lake holds in the window. Each symbol's rows are kept
only while it was listed: its life span is the days the archive has files for the series, narrowed by the
exchange's onboard and delivery dates when the catalog has them.

Volume filter, without look-ahead: a symbol belongs to the universe on UTC day D when the mean of its daily
quote volume over the 30 calendar days strictly before D (D-30 .. D-1, days with bars only) is at least
`min_quote_volume`. A symbol's first listed day therefore never qualifies, and no value from D or later
decides D. Daily quote volume is the sum of the bars' `quote_volume` (for cm this is base-asset volume,
issue https://github.com/binance/binance-public-data/issues/267). Rows carry the `trailing_quote_volume`
used. The 30 days before the window are read for this, but not reported as missing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from binance_lake.catalog.reads import life_spans, traded_in
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import DateLike, TimeRange, day_start
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.connection import Cursor, LakeState, cursor
from binance_lake.load.reader import Loaded, finish, plan
from binance_lake.load.request import LoadRequest, build_request, parse_range
from binance_lake.storage.state_reads import ingested_symbols

TRAILING_DAYS = 30
Span = tuple[dt.date | None, dt.date | None]


def _catalog_spans(
    handle: Cursor, alias: str | None, tables: frozenset[str], request: LoadRequest
) -> dict[str, Span]:
    interval = request.interval.value if request.interval is not None else None
    first, last = request.range.first_day, request.range.last_day
    spans: dict[str, Span] = {}
    known: dict[str, Span] = {}
    if "upstream_files" in tables:
        spans.update(
            life_spans(
                handle,
                request.market,
                request.dataset,
                interval,
                schema=f"{alias}.",
                exchange="exchange_symbols" in tables,
            )
        )
        # Members are the symbols that traded on a day of the window, by the rule `sync --all` uses.
        traded = traded_in(
            handle,
            request.market,
            [request.dataset],
            [interval] if interval is not None else [],
            first,
            last,
            schema=f"{alias}.",
            listings="listed_ranges" in tables,
        )
        known, spans = spans, {s: span for s, span in spans.items() if s in traded}
    if "file_state" in tables:
        held = ingested_symbols(
            handle, request.market, request.dataset, interval, first, last, schema=f"{alias}."
        )
        for symbol in sorted(held):
            span = known.get(str(symbol))
            if span is None or not _overlaps(span, first, last):
                # The lake holds days the catalog's listings never saw (or a series it does not know).
                spans[str(symbol)] = (None, None)
    return {s: span for s, span in sorted(spans.items()) if _overlaps(span, first, last)}


def _overlaps(span: Span, first: dt.date, last: dt.date) -> bool:
    return (span[0] is None or span[0] <= last) and (span[1] is None or span[1] >= first)


def load_universe(
    root: Path,
    start: DateLike,
    end: DateLike | None = None,
    *,
    market: str | Market = "um",
    dataset: str = "klines",
    interval: str | Interval | None = "1h",
    min_quote_volume: float | None = None,
) -> Loaded:
    """Bars of every symbol listed in the window, each only while listed (see the module docstring)."""
    window = parse_range(start, end)
    probe = build_request(dataset, ["X"], window.start, window.end, market=market, interval=interval)
    if min_quote_volume is not None:
        if "quote_volume" not in probe.columns:
            raise UsageError(f"min_quote_volume needs bars with quote_volume; {probe.dataset} has none")
        if not isinstance(min_quote_volume, int | float) or min_quote_volume < 0:
            raise UsageError(f"min_quote_volume must be a non-negative number, not {min_quote_volume!r}")
    with LakeState(root) as state:
        key = (
            "universe",
            probe.market,
            probe.dataset,
            probe.interval,
            probe.range.first_day,
            probe.range.last_day,
        )
        spans = state.ask(key, lambda handle, alias, tables: _catalog_spans(handle, alias, tables, probe))
        series = f"{probe.dataset} {probe.interval.value}" if probe.interval else probe.dataset
        if not spans:
            raise UsageError(
                f"neither the catalog nor the lake at {root} knows any {series} symbol of market "
                f"{probe.market.value} between {window.first_day} and {window.last_day}; run: binance-lake sync "
                f"--market {probe.market.value} --datasets {probe.dataset}"
                f"{' --intervals ' + probe.interval.value if probe.interval else ''} --all "
                f"--start {window.first_day} --end {window.last_day}"
            )
        request = probe.with_symbols(spans)
        lookback = dt.timedelta(days=TRAILING_DAYS) if min_quote_volume is not None else dt.timedelta(0)
        start = request.range.start - lookback
        # Each symbol is read only while listed, so no row outside its life is decoded, let alone joined.
        ranges = {symbol: listed_range(start, request.range.end, span) for symbol, span in spans.items()}
        planned = plan(root, state, request, lookback=lookback, ranges=ranges)
    if len(planned.absent) == len(request.symbols):
        raise UsageError(
            f"the lake at {root} holds none of the {len(spans)} {series} symbols listed in that window; "
            f"fetch them with: binance-lake sync --market {probe.market.value} --datasets {probe.dataset}"
            f"{' --intervals ' + probe.interval.value if probe.interval else ''} --all "
            f"--start {window.first_day} --end {window.last_day}"
        )
    loaded = finish(root, planned, require=False)
    table = loaded.table if min_quote_volume is None else _select(loaded.table, request, min_quote_volume)
    return Loaded(table, loaded.missing, loaded.absent)


def listed_range(start: dt.datetime, end: dt.datetime, span: Span) -> TimeRange | None:
    """`[start, end)` narrowed to the whole days `span` (either end open when None); None when empty."""
    lo = max(start, day_start(span[0])) if span[0] is not None else start
    hi = min(end, day_start(span[1] + dt.timedelta(days=1))) if span[1] is not None else end
    return TimeRange(lo, hi) if lo < hi else None


def _select(table: pa.Table, request: LoadRequest, minimum: float) -> pa.Table:
    """Rows of days whose trailing mean daily quote volume (listed days only, see the module docstring)
    reaches `minimum`, with that mean; the rows are already only those of listed days."""
    time = request.time_column
    query = f"""
        WITH daily AS (
            SELECT symbol, CAST("{time}" AS DATE) AS day, sum(quote_volume) AS quote_volume
            FROM bars GROUP BY ALL
        ), trail AS (
            SELECT symbol, day, avg(quote_volume) OVER (
                PARTITION BY symbol ORDER BY day
                RANGE BETWEEN INTERVAL {TRAILING_DAYS} DAY PRECEDING AND INTERVAL 1 DAY PRECEDING
            ) AS trailing_quote_volume
            FROM daily
        )
        SELECT b.*, t.trailing_quote_volume
        FROM bars b JOIN trail t ON t.symbol = b.symbol AND t.day = CAST(b."{time}" AS DATE)
        WHERE b."{time}" >= $start AND t.trailing_quote_volume >= $minimum
        ORDER BY b.symbol, b."{time}"
    """
    with cursor() as handle:
        handle.register("bars", table)
        try:
            params = {"start": request.range.start, "minimum": float(minimum)}
            result: pa.Table = handle.sql(query, params=params).to_arrow_table()
        finally:
            handle.unregister("bars")
    schema = table.schema.append(pa.field("trailing_quote_volume", pa.float64()))
    out: pa.Table = result.select(schema.names).cast(schema)
    return out
