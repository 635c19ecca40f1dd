"""A survivorship-free universe: every symbol that traded in a window, delisted ones included: `load_universe`.

Members come from the catalog (what the archive has for the dataset, market and interval, which keeps
delisted symbols), plus any series the lake holds that the catalog does not know. Each symbol's rows are kept
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
from typing import Any

import pyarrow as pa

from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import DateLike
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.load.connection import Cursor, attached, cursor, tables_of
from binance_lake.load.reader import Loaded, load_table
from binance_lake.load.request import LoadRequest, build_request, parse_range

TRAILING_DAYS = 30
Span = tuple[dt.date | None, dt.date | None]
_LIFE_FIELDS: list[pa.Field[Any]] = [
    pa.field("symbol", pa.string()),
    pa.field("first_day", pa.date32()),
    pa.field("last_day", pa.date32()),
]
LIFE_SCHEMA = pa.schema(_LIFE_FIELDS)


def _catalog_spans(handle: Cursor, alias: str | None, request: LoadRequest) -> dict[str, Span]:
    tables = tables_of(handle, alias)
    interval = request.interval.value if request.interval is not None else None
    first, last = request.range.first_day, request.range.last_day
    spans: dict[str, Span] = {}
    if "upstream_files" in tables:
        exchange = "exchange_symbols" in tables
        join = (
            f"LEFT JOIN (SELECT symbol, min(onboard_date) AS onboard, min(delivery_date) AS delivery "
            f"FROM {alias}.exchange_symbols WHERE market = $market GROUP BY symbol) e USING (symbol)"
            if exchange
            else ""
        )
        onboard = "greatest(s.first_day, coalesce(e.onboard, s.first_day))" if exchange else "s.first_day"
        delivery = "least(s.last_day, coalesce(e.delivery, s.last_day))" if exchange else "s.last_day"
        rows = handle.execute(
            f"""
            SELECT symbol, {onboard}, {delivery} FROM (
                SELECT symbol, min(first_day) AS first_day, max(last_day) AS last_day FROM {alias}.upstream_files
                WHERE NOT gone AND market = $market AND dataset = $dataset AND "interval" IS NOT DISTINCT FROM $interval
                GROUP BY symbol
            ) s {join}
            """,
            {"market": request.market.value, "dataset": request.dataset, "interval": interval},
        ).fetchall()
        spans.update({str(s): (f, l_) for s, f, l_ in rows})
    if "file_state" in tables:
        held = handle.execute(
            f"""
            SELECT DISTINCT symbol FROM {alias}.file_state
            WHERE status = 'ingested' AND market = $market AND dataset = $dataset
              AND "interval" IS NOT DISTINCT FROM $interval AND last_day >= $first AND first_day <= $last
            """,
            {
                "market": request.market.value,
                "dataset": request.dataset,
                "interval": interval,
                "first": first,
                "last": last,
            },
        ).fetchall()
        for (symbol,) in held:
            spans.setdefault(str(symbol), (None, None))
    return {
        s: span
        for s, span in sorted(spans.items())
        if (span[0] is None or span[0] <= last) and (span[1] is None or span[1] >= first)
    }


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
    with cursor() as handle, attached(handle, root) as alias:
        spans = _catalog_spans(handle, alias, probe)
    series = f"{probe.dataset} {probe.interval.value}" if probe.interval else probe.dataset
    if not spans:
        raise UsageError(
            f"neither the catalog nor the lake at {root} knows any {series} symbol of market "
            f"{probe.market.value} between {window.first_day} and {window.last_day}; run: binance-lake sync "
            f"--market {probe.market.value} --datasets {probe.dataset}"
            f"{' --intervals ' + probe.interval.value if probe.interval else ''} --all --include-delisted "
            f"--start {window.first_day} --end {window.last_day}"
        )
    request = probe.with_symbols(spans)
    lookback = dt.timedelta(days=TRAILING_DAYS) if min_quote_volume is not None else dt.timedelta(0)
    loaded = load_table(root, request, require=False, lookback=lookback)
    if len(loaded.absent) == len(request.symbols):
        raise UsageError(
            f"the lake at {root} holds none of the {len(spans)} {series} symbols listed in that window; "
            f"fetch them with: binance-lake sync --market {probe.market.value} --datasets {probe.dataset}"
            f"{' --intervals ' + probe.interval.value if probe.interval else ''} --all --include-delisted "
            f"--start {window.first_day} --end {window.last_day}"
        )
    return Loaded(_select(loaded.table, request, spans, min_quote_volume), loaded.missing, loaded.absent)


def _select(table: pa.Table, request: LoadRequest, spans: dict[str, Span], minimum: float | None) -> pa.Table:
    life = pa.table(
        {
            "symbol": list(spans),
            "first_day": [s[0] for s in spans.values()],
            "last_day": [s[1] for s in spans.values()],
        },
        schema=LIFE_SCHEMA,
    )
    time = request.time_column
    listed = (
        f'(l.first_day IS NULL OR CAST(b."{time}" AS DATE) >= l.first_day) '
        f'AND (l.last_day IS NULL OR CAST(b."{time}" AS DATE) <= l.last_day)'
    )
    if minimum is None:
        query = f'SELECT b.* FROM bars b JOIN life l USING (symbol) WHERE {listed} ORDER BY symbol, "{time}"'
    else:
        query = f"""
            WITH listed AS (SELECT b.* FROM bars b JOIN life l USING (symbol) WHERE {listed}),
            daily AS (
                SELECT symbol, CAST("{time}" AS DATE) AS day, sum(quote_volume) AS quote_volume
                FROM listed GROUP BY ALL
            ), trail AS (
                SELECT symbol, day, avg(quote_volume) OVER (
                    PARTITION BY symbol ORDER BY day
                    RANGE BETWEEN INTERVAL {TRAILING_DAYS} DAY PRECEDING AND INTERVAL 1 DAY PRECEDING
                ) AS trailing_quote_volume
                FROM daily
            )
            SELECT b.*, t.trailing_quote_volume
            FROM listed b JOIN trail t ON t.symbol = b.symbol AND t.day = CAST(b."{time}" AS DATE)
            WHERE b."{time}" >= $start AND t.trailing_quote_volume >= $minimum
            ORDER BY b.symbol, b."{time}"
        """
    with cursor() as handle:
        handle.register("bars", table)
        handle.register("life", life)
        try:
            params = {} if minimum is None else {"start": request.range.start, "minimum": float(minimum)}
            result: pa.Table = handle.sql(query, params=params or None).to_arrow_table()
        finally:
            handle.unregister("bars")
            handle.unregister("life")
    schema = table.schema
    if minimum is not None:
        schema = schema.append(pa.field("trailing_quote_volume", pa.float64()))
    out: pa.Table = result.select(schema.names).cast(schema)
    return out
