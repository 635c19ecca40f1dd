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
    params = {
        "symbols": list(request.symbols),
        "market": request.market.value,
        "dataset": request.dataset,
        "interval": interval,
    }
    held_spans: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for symbol, first, last in handle.execute(
        f"SELECT symbol, first_day, last_day FROM {state} WHERE status = 'ingested' AND {series} "
        "AND list_contains($symbols, symbol) AND last_day >= $first AND first_day <= $last",
        {**params, "first": days[0], "last": days[1]},
    ).fetchall():
        held_spans.setdefault(str(symbol), []).append((first, last))
    known = {
        str(r[0])
        for r in handle.execute(
            f"SELECT DISTINCT symbol FROM {upstream} WHERE market = $market AND list_contains($symbols, symbol)",
            {"market": request.market.value, "symbols": list(request.symbols)},
        ).fetchall()
    }
    spans = {
        str(s): (f, l_)
        for s, f, l_ in handle.execute(
            f"SELECT symbol, min(first_day), max(last_day) FROM {upstream} "
            f"WHERE NOT gone AND {series} AND list_contains($symbols, symbol) GROUP BY symbol",
            params,
        ).fetchall()
    }
    rows: list[tuple[str, dt.date, dt.date]] = []
    for symbol in request.symbols:
        if symbol in spans:
            lo, hi = max(days[0], spans[symbol][0]), min(days[1], spans[symbol][1])
        elif symbol in known:
            continue  # upstream has the symbol but not this series: nothing to miss
        else:
            lo, hi = days
        rows.extend((symbol, f, l_) for f, l_ in subtract((lo, hi), held_spans.get(symbol, [])))
    gaps = tuple(Gap(request.dataset, s, f, l_, interval) for s, f, l_ in sorted(rows))
    return Coverage(held, Missing(gaps))


def subtract(
    wanted: tuple[dt.date, dt.date], held: list[tuple[dt.date, dt.date]]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of days in `wanted` (inclusive) that no span in `held` covers."""
    lo, hi = wanted
    out: list[tuple[dt.date, dt.date]] = []
    one = dt.timedelta(days=1)
    for first, last in sorted(held):
        if last < lo:
            continue
        if first > hi:
            break
        if first > lo:
            out.append((lo, first - one))
        lo = max(lo, last + one)
        if lo > hi:
            return out
    if lo <= hi:
        out.append((lo, hi))
    return out
