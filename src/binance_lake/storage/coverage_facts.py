"""The facts a load's coverage check needs from lake.duckdb, in one query: which days each series holds
(`day_provenance`, or `file_state` on a lake from before it), what the catalog knows upstream
(`upstream_files`, `listed_ranges`) and the partition files the lake recorded (`partitions`).

One round trip on purpose: the read path is latency-sensitive (docs/benchmarks.md "Loading") and DuckDB's
fixed cost per query is larger than these queries, so the five reads are one UNION. The SQL lives here,
beside the schema that declares every table it reads (storage/schema.py), so load/ spells none of it;
load/coverage.py compares the answer with a request.

`alias` names the attached lake database (load/connection.attached) or None when there is none (the answer
is then empty); `tables` the tables it has (a read-only reader cannot migrate an older lake, so a missing
table reads as empty).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import Connection
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
class CoverageFacts:
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


def _source(alias: str | None, tables: frozenset[str], name: str) -> str:
    return f"{alias}.{name}" if alias is not None and name in tables else _EMPTY_FILES


def coverage_facts(
    handle: Connection,
    alias: str | None,
    tables: frozenset[str],
    market: Market,
    series: tuple[Series, ...],
    symbols: tuple[str, ...],
    first: dt.date,
    last: dt.date,
) -> CoverageFacts:
    """The facts about `series` of `market` for `symbols` over `first .. last`, in one query."""
    if alias is None:
        return CoverageFacts()
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
    return CoverageFacts(
        frozenset(held),
        {k: tuple(v) for k, v in spans.items()},
        frozenset(known),
        life,
        tuple(listed_rows) if has_listed else None,
        parts,
    )
