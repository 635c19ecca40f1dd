"""What the lake holds against what a load asked for: which symbols it has never held, and which days of
the asked range it lacks.

The state database says which archive files the lake holds (`file_state`, status `ingested`, each covering
`first_day .. last_day`); the catalog (`upstream_files`) says which days exist upstream. A day is *missing*
when it lies in the asked range and in the series' upstream life span but no ingested file covers it. When
the catalog does not know the symbol at all (never refreshed), every asked day up to today counts as expected;
when the catalog knows the symbol but not this series (a delivery contract has no funding rate), none does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from binance_lake.load.connection import Cursor, tables_of
from binance_lake.load.missing import Gap, Missing
from binance_lake.load.request import LoadRequest

_EMPTY_FILES = (
    '(SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", '
    "NULL::VARCHAR AS symbol, NULL::DATE AS first_day, NULL::DATE AS last_day, NULL::VARCHAR AS status, "
    "false AS gone WHERE false)"
)


@dataclass(frozen=True)
class Coverage:
    """`held`: symbols with at least one ingested file of the series (any time); `missing`: the gaps."""

    held: frozenset[str]
    missing: Missing


def expected_days(request: LoadRequest, today: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """The asked days that can exist at all: within the dataset's publication span and not after today."""
    first, last = request.range.first_day, request.range.last_day
    spec_first = request.spec.first_day.get(request.market)
    spec_last = request.spec.last_day.get(request.market)
    first = max(first, spec_first) if spec_first else first
    last = min(last, spec_last) if spec_last else last
    last = min(last, today or dt.datetime.now(dt.UTC).date())
    return (first, last) if first <= last else None


def _source(alias: str | None, tables: frozenset[str], name: str) -> str:
    return f"{alias}.{name}" if alias is not None and name in tables else _EMPTY_FILES


def coverage(
    handle: Cursor, alias: str | None, request: LoadRequest, *, today: dt.date | None = None
) -> Coverage:
    """Compare the request with `file_state` and `upstream_files` of the attached lake database `alias`."""
    tables = tables_of(handle, alias)
    state = _source(alias, tables, "file_state")
    upstream = _source(alias, tables, "upstream_files")
    interval = request.interval.value if request.interval is not None else None
    series = 'market = $market AND dataset = $dataset AND "interval" IS NOT DISTINCT FROM $interval'
    held_rows = handle.execute(
        f"SELECT DISTINCT symbol FROM {state} WHERE status = 'ingested' AND {series} "
        "AND list_contains($symbols, symbol)",
        {
            "market": request.market.value,
            "dataset": request.dataset,
            "interval": interval,
            "symbols": list(request.symbols),
        },
    ).fetchall()
    held = frozenset(str(r[0]) for r in held_rows)
    days = expected_days(request, today)
    if days is None:
        return Coverage(held, Missing())
    rows = handle.execute(
        f"""
        WITH wanted AS (SELECT unnest($symbols::VARCHAR[]) AS symbol),
        asked AS (
            SELECT symbol, unnest(generate_series($first, $last, INTERVAL 1 DAY))::DATE AS day FROM wanted
        ),
        known AS (SELECT DISTINCT symbol FROM {upstream} WHERE market = $market AND list_contains($symbols, symbol)),
        spans AS (
            SELECT symbol, min(first_day) AS first_day, max(last_day) AS last_day FROM {upstream}
            WHERE NOT gone AND {series} AND list_contains($symbols, symbol) GROUP BY symbol
        ),
        expected AS (
            SELECT a.symbol, a.day FROM asked a LEFT JOIN spans s USING (symbol)
            WHERE (s.symbol IS NOT NULL AND a.day BETWEEN s.first_day AND s.last_day)
               OR (s.symbol IS NULL AND a.symbol NOT IN (SELECT symbol FROM known))
        ),
        held AS (
            SELECT DISTINCT symbol,
                   unnest(generate_series(greatest(first_day, $first), least(last_day, $last),
                                          INTERVAL 1 DAY))::DATE AS day
            FROM {state}
            WHERE status = 'ingested' AND {series} AND list_contains($symbols, symbol)
              AND last_day >= $first AND first_day <= $last
        ),
        lacking AS (
            SELECT symbol, day, day - (row_number() OVER (PARTITION BY symbol ORDER BY day))::INTEGER AS run
            FROM (SELECT symbol, day FROM expected ANTI JOIN held USING (symbol, day))
        )
        SELECT symbol, min(day), max(day) FROM lacking GROUP BY symbol, run ORDER BY 1, 2
        """,
        {
            "symbols": list(request.symbols),
            "first": days[0],
            "last": days[1],
            "market": request.market.value,
            "dataset": request.dataset,
            "interval": interval,
        },
    ).fetchall()
    gaps = tuple(Gap(request.dataset, str(s), f, l_, interval) for s, f, l_ in rows)
    return Coverage(held, Missing(gaps))
