"""What the lake holds against what a load asked for: which symbols it has never held, and which days of
the asked range it lacks.

The lake says which days each series holds (`day_provenance`, written by every ingest; a lake from before it
existed, read as it is, by its ingested files in `file_state`); the catalog (`upstream_files`) says which days
exist upstream. A day is *missing* when it lies in the asked range and in the series' upstream life span but
the lake holds no rows from it. When
the catalog does not know the symbol at all (never refreshed), every asked day up to today counts as expected;
when the catalog knows the symbol but not this series (a delivery contract has no funding rate), none does.

The facts come in one query from storage/coverage_facts.py (the SQL lives with the schema owner); this module
only compares them with the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from binance_lake.core.series_key import merge_spans, uncovered
from binance_lake.load.connection import LakeState
from binance_lake.load.missing import Gap, Missing
from binance_lake.load.request import LoadRequest
from binance_lake.storage.coverage_facts import CoverageFacts, Series, coverage_facts

# The facts come from storage/coverage_facts.py (its one query); `Facts` is the name load/ has used.
Facts = CoverageFacts


@dataclass(frozen=True)
class Coverage:
    """`held`: symbols with at least one ingested file of the series (any time); `missing`: the gaps;
    `unlisted`: symbols with asked days outside what the catalog has listed of their series, which may
    exist upstream unseen (a sync lists only the days it was asked for), so `missing` cannot vouch for them."""

    held: frozenset[str]
    missing: Missing
    unlisted: tuple[str, ...] = ()


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
        lambda handle, alias, tables: coverage_facts(
            handle, alias, tables, market, series, symbols, first, last
        ),
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
