"""What the lake holds against what a load asked for: which symbols it has never held, and which days of
the asked range it lacks.

The lake says which days each series holds (`day_provenance`, written by every ingest; a lake from before it
existed, read as it is, by its ingested files in `file_state`); the catalog (`upstream_files`) says which days
exist upstream. A day is *missing* when it lies in the asked range and in the series' upstream life span but
the lake holds no rows from it. When
the catalog does not know the symbol at all (never refreshed), every asked day up to today counts as expected;
when the catalog knows the symbol but not this series (a delivery contract has no funding rate), none does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from binance_lake.core.series_key import merge_spans, uncovered
from binance_lake.core.vocabulary import Market
from binance_lake.load.connection import Cursor, LakeState
from binance_lake.load.missing import Gap, Missing
from binance_lake.load.request import LoadRequest
from binance_lake.storage.provenance import held_runs_sql
from binance_lake.storage.schema import FileStatus

_EMPTY_FILES = (
    '(SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", '
    "NULL::VARCHAR AS symbol, NULL::DATE AS first_day, NULL::DATE AS last_day, NULL::VARCHAR AS status, "
    "false AS gone WHERE false)"
)

_EMPTY_PARTITIONS = (
    '(SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", '
    "NULL::VARCHAR AS symbol, NULL::DATE AS period, NULL::BIGINT AS size, NULL::BIGINT AS mtime_ns WHERE false)"
)

_EMPTY_LISTED = (
    '(SELECT NULL::VARCHAR AS market, NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", '
    "NULL::VARCHAR AS symbol, NULL::DATE AS first_day, NULL::DATE AS last_day WHERE false)"
)

Series = tuple[str, str | None]  # (dataset, interval) within one market
Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class Coverage:
    """`held`: symbols with at least one ingested file of the series (any time); `missing`: the gaps;
    `unlisted`: symbols with asked days outside what the catalog has listed of their series, which may
    exist upstream unseen (a sync lists only the days it was asked for), so `missing` cannot vouch for them."""

    held: frozenset[str]
    missing: Missing
    unlisted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What lake.duckdb says about some series of one market for some symbols, fetched in one query.

    `held`: (series, symbol) with an ingested file at any time; `spans`: the ingested files' day spans that
    touch the asked days; `known`: symbols the catalog knows in the market (any series); `life`: each
    (series, symbol)'s first and last day upstream (files not gone)."""

    held: frozenset[tuple[Series, str]] = frozenset()
    spans: Mapping[tuple[Series, str], tuple[Span, ...]] = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    life: Mapping[tuple[Series, str], Span] = field(default_factory=dict)
    # What the catalog listed completely: (dataset, interval, symbol) with None meaning "all", and the days.
    # None when the lake has no record of listings (written before the catalog kept one).
    listed: tuple[tuple[str | None, str | None, str | None, Span], ...] | None = None
    # The lake's record of its partition files (storage.inventory): (series, symbol) -> period -> (size,
    # mtime_ns) as written. A held partition whose file is gone or differs is missing, not silently absent.
    partitions: Mapping[tuple[Series, str], Mapping[dt.date, tuple[int, int]]] = field(default_factory=dict)

    def listed_spans(self, series: Series, symbol: str) -> list[Span] | None:
        if self.listed is None:
            return None
        return [
            span
            for dataset, interval, listed_symbol, span in self.listed
            if dataset in (None, series[0])
            and interval in (None, series[1])
            and listed_symbol in (None, symbol)
        ]


def series_of(request: LoadRequest) -> Series:
    return (request.dataset, request.interval.value if request.interval is not None else None)


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


def _fetch(
    handle: Cursor,
    alias: str | None,
    tables: frozenset[str],
    market: Market,
    series: tuple[Series, ...],
    symbols: tuple[str, ...],
    first: dt.date,
    last: dt.date,
) -> Facts:
    if alias is None:
        return Facts()
    state = _source(alias, tables, "file_state")
    upstream = _source(alias, tables, "upstream_files")
    has_listed = alias is not None and "listed_ranges" in tables
    listed = f"{alias}.listed_ranges" if has_listed else _EMPTY_LISTED
    recorded = f"{alias}.partitions" if "partitions" in tables else _EMPTY_PARTITIONS
    # One round trip for all four answers: DuckDB's fixed cost per query is larger than these queries.
    where = (
        "market = $market AND list_contains($series, dataset || '/' || coalesce(\"interval\", '')) "
        "AND list_contains($symbols, symbol)"
    )
    if "day_provenance" in tables:
        # The days each series holds, as day_provenance records them (every ingest writes it), in runs.
        days = f"{alias}.day_provenance"
        held_sql = f"""
        SELECT 'span', dataset, "interval", symbol, first_day, last_day, NULL::BIGINT, NULL::BIGINT
        FROM ({held_runs_sql(days, f"{where} AND day BETWEEN $first AND $last")})
        UNION ALL
        SELECT DISTINCT 'held', dataset, "interval", symbol, NULL::DATE, NULL::DATE, NULL::BIGINT, NULL::BIGINT
        FROM {days}
        WHERE {where}"""
    else:
        # A lake from before day_provenance, read as it is (read-only readers cannot migrate): its ingested
        # files' day spans say the same.
        held_sql = f"""
        SELECT 'span', dataset, "interval", symbol, first_day, last_day, NULL::BIGINT, NULL::BIGINT
        FROM {state}
        WHERE status = $ingested AND {where} AND last_day >= $first AND first_day <= $last
        UNION ALL
        SELECT DISTINCT 'held', dataset, "interval", symbol, NULL::DATE, NULL::DATE, NULL::BIGINT, NULL::BIGINT
        FROM {state}
        WHERE status = $ingested AND {where}"""
    rows = handle.execute(
        f"""{held_sql}
        UNION ALL
        SELECT DISTINCT 'known', NULL, NULL, symbol, NULL::DATE, NULL::DATE, NULL::BIGINT, NULL::BIGINT
        FROM {upstream}
        WHERE market = $market AND list_contains($symbols, symbol)
        UNION ALL
        SELECT 'life', dataset, "interval", symbol, min(first_day), max(last_day), NULL::BIGINT, NULL::BIGINT
        FROM {upstream}
        WHERE NOT gone AND {where} GROUP BY dataset, "interval", symbol
        UNION ALL
        SELECT 'listed', dataset, "interval", symbol,
               coalesce(first_day, DATE '1900-01-01'), coalesce(last_day, DATE '2999-12-31'),
               NULL::BIGINT, NULL::BIGINT
        FROM {listed}
        WHERE market = $market AND (dataset IS NULL OR list_contains($datasets, dataset))
          AND (symbol IS NULL OR list_contains($symbols, symbol))
        UNION ALL
        SELECT 'part', dataset, "interval", symbol, period, NULL::DATE, size, mtime_ns FROM {recorded}
        WHERE {where} AND period >= date_trunc('month', $first::DATE) AND period <= $last
        """,
        {
            "market": market.value,
            "series": [f"{d}/{i or ''}" for d, i in series],
            "datasets": sorted({d for d, _ in series}),
            "symbols": list(symbols),
            "first": first,
            "last": last,
        }
        | ({} if "day_provenance" in tables else {"ingested": FileStatus.INGESTED.value}),
    ).fetchall()
    held: set[tuple[Series, str]] = set()
    spans: dict[tuple[Series, str], list[Span]] = {}
    known: set[str] = set()
    life: dict[tuple[Series, str], Span] = {}
    listed_rows: list[tuple[str | None, str | None, str | None, Span]] = []
    parts: dict[tuple[Series, str], dict[dt.date, tuple[int, int]]] = {}
    for kind, dataset, interval, symbol, lo, hi, size, mtime_ns in rows:
        if kind == "listed":
            listed_rows.append((dataset, interval, symbol, (lo, hi)))
            continue
        key = ((str(dataset), None if interval is None else str(interval)), str(symbol))
        if kind == "part":
            parts.setdefault(key, {})[lo] = (int(size), int(mtime_ns))
        elif kind == "span":
            spans.setdefault(key, []).append((lo, hi))
        elif kind == "held":
            held.add(key)
        elif kind == "known":
            known.add(str(symbol))
        else:
            life[key] = (lo, hi)
    return Facts(
        frozenset(held),
        {k: tuple(v) for k, v in spans.items()},
        frozenset(known),
        life,
        tuple(listed_rows) if has_listed else None,
        parts,
    )


def facts(state: LakeState, requests: Iterable[LoadRequest]) -> Facts:
    """The coverage facts for every request (all of one market), one query, cached while the lake is
    unchanged (`LakeState`)."""
    chosen = list(requests)
    market = chosen[0].market
    series = tuple(sorted({series_of(r) for r in chosen}, key=lambda s: (s[0], s[1] or "")))
    symbols = tuple(sorted({s for r in chosen for s in r.symbols}))
    first = min(r.range.first_day for r in chosen)
    last = max(r.range.last_day for r in chosen)
    return state.ask(
        ("coverage", market, series, symbols, first, last),
        lambda handle, alias, tables: _fetch(handle, alias, tables, market, series, symbols, first, last),
    )


def coverage(found: Facts, request: LoadRequest, *, today: dt.date | None = None) -> Coverage:
    """Compare the request with the facts from `day_provenance` (or `file_state`) and `upstream_files`."""
    series = series_of(request)
    held = frozenset(s for s in request.symbols if (series, s) in found.held)
    days = expected_days(request, today)
    if days is None:
        return Coverage(held, Missing())
    rows: list[tuple[str, dt.date, dt.date]] = []
    unlisted: list[str] = []
    for symbol in request.symbols:
        span = found.life.get((series, symbol))
        listed = found.listed_spans(series, symbol)
        # Days the catalog never listed may exist upstream unseen: they count as expected once the catalog
        # records its listings (a narrow sync lists only its own days, so its life span is not the symbol's).
        unseen = subtract(days, listed) if listed is not None else []
        if span is not None and (days[0] < span[0] or days[1] > span[1]):
            unlisted.append(symbol)
        if span is not None:
            wanted = [(max(days[0], span[0]), min(days[1], span[1])), *unseen]
        elif listed is not None:
            wanted = unseen  # listed and absent is not missing; never listed is
        elif symbol in found.known:
            continue  # upstream has the symbol but not this series: nothing to miss
        else:
            wanted = [days]
        held_spans = list(found.spans.get((series, symbol), ()))
        for lo, hi in _union(wanted):
            rows.extend((symbol, f, l_) for f, l_ in subtract((lo, hi), held_spans))
    gaps = tuple(Gap(request.dataset, s, f, l_, series[1]) for s, f, l_ in sorted(rows))
    return Coverage(held, Missing(gaps), tuple(unlisted))


def _union(runs: list[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """Merge overlapping or touching day runs; empty runs (first after last) are dropped."""
    return [(span.first, span.last) for span in merge_spans(r for r in runs if r[0] <= r[1])]


def subtract(
    wanted: tuple[dt.date, dt.date], held: list[tuple[dt.date, dt.date]]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of days in `wanted` (inclusive) that no span in `held` covers."""
    return [(span.first, span.last) for span in uncovered(wanted[0], wanted[1], held)]
