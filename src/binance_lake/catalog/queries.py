"""Availability questions over the catalog: snapshot, timeline, range, earliest, synchronal, symbols.

Each query reads the catalog tables of `store.py` and returns an Arrow table (or, for timelines, values), so the
CLI can render it as a rich table, CSV or JSON and the Python API can hand it to pandas or polars. Filters left as
None mean "every market / dataset / interval".
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.datasets import get_dataset
from binance_lake.core.series import SERIES_BY_CODE, SERIES_CODE_SPAN, SERIES_CODES
from binance_lake.core.series_key import merge_spans, uncovered
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Interval
from binance_lake.storage.database import Connection

Wanted = str | tuple[str, ...] | None


def _values(wanted: Wanted) -> tuple[str, ...] | None:
    if wanted is None:
        return None
    return (wanted,) if isinstance(wanted, str) else tuple(wanted)


def allows(wanted: Wanted, value: str | None) -> bool:
    """Whether a filter field (None: all; one value; or several) lets `value` through."""
    values = _values(wanted)
    return values is None or value in values


@dataclass(frozen=True)
class Filters:
    """Which series a query looks at: one value or a tuple of values per field; None means all."""

    market: Wanted = None
    dataset: Wanted = None
    interval: Wanted = None
    symbol: Wanted = None

    def sql(self, alias: str = "") -> tuple[str, list[object]]:
        prefix = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[object] = []
        for column, wanted in (
            ("market", self.market),
            ("dataset", self.dataset),
            ('"interval"', self.interval),
            ("symbol", self.symbol),
        ):
            values = _values(wanted)
            if values is None:
                continue
            if len(values) == 1:
                clauses.append(f"{prefix}{column} = ?")
            else:
                clauses.append(f"{prefix}{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        return (" AND ".join(clauses) or "true"), params


def _arrow(connection: Connection, sql: str, params: list[object]) -> pa.Table:
    # `sql(...)` streams Arrow directly; `execute(...)` would copy every row once more (DuckDB 2 warns).
    table: pa.Table = connection.sql(sql, params=params).to_arrow_table()
    return table


def snapshot(connection: Connection, day: dt.date, filters: Filters = Filters()) -> pa.Table:
    """Symbols with a file covering `day`, per market / dataset / interval (a daily file preferred over the
    monthly file of the same day).

    One query on the day index, whose key is the day and the series code (a pure function of the registry),
    so DuckDB reads only the row groups of the asked day.
    """
    codes = sorted(
        code
        for (market, dataset, interval), code in SERIES_CODES.items()
        if allows(filters.market, market)
        and allows(filters.dataset, dataset)
        and allows(filters.interval, interval)
    )
    base = (day - dt.date(1970, 1, 1)).days * SERIES_CODE_SPAN
    keys = [base + code for code in codes] or [-1]
    clauses = ["day_series BETWEEN ? AND ?"]
    params: list[object] = [keys[0], keys[-1]]
    if 1 < len(keys) < len(SERIES_CODES):  # a subset of the day's series
        clauses.append(f"day_series IN ({', '.join('?' * len(keys))})")
        params.extend(keys)
    symbols = _values(filters.symbol)
    if symbols:
        clauses.append(f"symbol IN ({', '.join('?' * len(symbols))})")
        params.extend(symbols)
    found = _arrow(
        connection,
        f"SELECT day_series, symbol, cadence, size, last_modified FROM day_index WHERE {' AND '.join(clauses)}",
        params,
    )
    # Rows are stored in (day_series, symbol) order except after incremental updates; sort only when needed.
    if not _sorted(found):
        found = found.take(pc.sort_indices(found, [("day_series", "ascending"), ("symbol", "ascending")]))
    # Name each row's series from its code without a per-row Python loop.
    row_codes = found["day_series"].to_numpy() - base
    distinct, positions = np.unique(row_codes, return_inverse=True)
    names = [SERIES_BY_CODE[int(code)] for code in distinct]
    if len(names) == 1:
        series_columns = [pa.repeat(pa.scalar(value, pa.string()), found.num_rows) for value in names[0]]
    else:
        index = positions.astype(np.int32)
        series_columns = [pa.array([n[i] for n in names], pa.string()).take(index) for i in range(3)]
    return pa.Table.from_arrays(
        [*series_columns, *(found[c] for c in ("symbol", "cadence", "size", "last_modified"))],
        names=["market", "dataset", "interval", "symbol", "cadence", "size", "last_modified"],
    )


def _sorted(table: pa.Table) -> bool:
    """Whether rows are ordered by (day_series, symbol): a vectorised check, cheaper than a sort."""
    if table.num_rows < 2:
        return True
    series = table["day_series"].to_numpy()
    if (series[1:] < series[:-1]).any():
        return False
    symbols = table["symbol"]
    same = series[1:] == series[:-1]
    later = pc.greater_equal(symbols.slice(1), symbols.slice(0, table.num_rows - 1)).to_numpy(
        zero_copy_only=False
    )
    return bool((later | ~same).all())


@dataclass(frozen=True)
class Span:
    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Timeline:
    """The life of one series (market, dataset, interval, symbol) in the archive."""

    market: str
    dataset: str
    interval: str | None
    symbol: str
    first_day: dt.date
    last_day: dt.date
    spans: tuple[Span, ...]
    missing_days: tuple[dt.date, ...]
    files: int
    # What the catalog listed of this series (see `_with_listing`): unless `complete`, first_day and last_day
    # are only the first and last day listed so far, not the symbol's life.
    listed_from: dt.date | None = None
    listed: str | None = None
    complete: bool = False

    @property
    def available_days(self) -> int:
        return sum(span.days for span in self.spans)


def timeline(connection: Connection, filters: Filters) -> list[Timeline]:
    """Available spans, missing days, first and last day of every series matching `filters`.

    Spans are computed in SQL as islands of consecutive days (day minus its rank is constant inside a span),
    so only the spans and the files count cross into Python.
    """
    where, params = filters.sql()
    rows = connection.execute(
        f"""
        SELECT market, dataset, "interval", symbol, pairs, files, listed_from, listed, complete FROM (
        {_with_listing(_TIMELINE.format(where=where))}
        ) ORDER BY market, dataset, "interval", symbol
        """,
        params,
    ).fetchall()
    result = []
    for market, dataset, interval, symbol, pairs, files, listed_from, listed, complete in rows:
        spans = tuple(Span(first, last) for first, last in pairs)
        missing = tuple(
            day
            for before, after in itertools.pairwise(spans)
            for day in iter_days(before.last + dt.timedelta(days=1), after.first - dt.timedelta(days=1))
        )
        result.append(
            Timeline(
                market,
                dataset,
                interval,
                symbol,
                spans[0].first,
                spans[-1].last,
                spans,
                missing,
                int(files),
                listed_from,
                listed,
                bool(complete),
            )
        )
    return result


_TIMELINE = """
        WITH files AS (
            SELECT market, dataset, "interval", symbol, key, first_day, last_day
            FROM upstream_files WHERE NOT gone AND {where}
        ), days AS (
            SELECT DISTINCT market, dataset, "interval", symbol,
                   unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS d
            FROM files
        ), islands AS (
            SELECT market, dataset, "interval", symbol, d,
                   d - (row_number() OVER (PARTITION BY market, dataset, "interval", symbol ORDER BY d))::INTEGER
                     AS island
            FROM days
        ), spans AS (
            SELECT market, dataset, "interval", symbol, min(d) AS first, max(d) AS last
            FROM islands GROUP BY market, dataset, "interval", symbol, island
        ), counts AS (
            SELECT market, dataset, "interval", symbol, count(*) AS files FROM files GROUP BY ALL
        )
        SELECT s.market, s.dataset, s."interval", s.symbol, list((s.first, s.last) ORDER BY s.first) AS pairs,
               any_value(c.files) AS files
        FROM spans s JOIN counts c
          ON c.market = s.market AND c.dataset = s.dataset AND c."interval" IS NOT DISTINCT FROM s."interval"
         AND c.symbol = s.symbol
        GROUP BY ALL
"""


def timelines_table(timelines: list[Timeline]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "market": t.market,
                "dataset": t.dataset,
                "interval": t.interval,
                "symbol": t.symbol,
                "first_day": t.first_day,
                "last_day": t.last_day,
                "available_days": t.available_days,
                "missing_days": len(t.missing_days),
                "spans": "; ".join(f"{s.first}..{s.last}" for s in t.spans),
                "missing": ", ".join(str(d) for d in t.missing_days[:20])
                + (" …" if len(t.missing_days) > 20 else ""),
                "files": t.files,
                "listed_from": t.listed_from,
                "listed": t.listed,
                "complete": t.complete,
            }
            for t in timelines
        ]
    )


def date_range(
    connection: Connection, first: dt.date, last: dt.date, filters: Filters = Filters()
) -> pa.Table:
    """Symbols listed, delisted, and active in `first .. last` (per market and dataset).

    listed: its first day falls in the range; delisted: its last day falls in the range and the symbol is
    delisted; active: it has data on at least one day of the range. Unless `complete` (the series' whole
    history was listed, see `_with_listing`), first and last day are only what was listed: listed and
    delisted are then NULL, unknown, rather than a listing window's edge passed off as a listing.
    """
    where, params = filters.sql("u")
    series = f"""
        SELECT u.market, u.dataset, u."interval", u.symbol, min(u.first_day) AS first_day,
               max(u.last_day) AS last_day
        FROM upstream_files u WHERE NOT u.gone AND {where} GROUP BY ALL
    """
    return _arrow(
        connection,
        f"""
        WITH spans AS (
            SELECT market, dataset, symbol, min(first_day) AS first_day, max(last_day) AS last_day,
                   bool_and(complete) AS complete
            FROM ({_with_listing(series)}) GROUP BY ALL
        )
        SELECT sp.market, sp.dataset, sp.symbol, sp.first_day, sp.last_day,
               CASE WHEN sp.complete THEN sp.first_day BETWEEN ? AND ? END AS listed,
               CASE WHEN sp.complete THEN coalesce(sy.delisted, false) AND sp.last_day BETWEEN ? AND ? END
                 AS delisted,
               true AS active, sp.complete
        FROM spans sp LEFT JOIN symbols sy USING (market, symbol)
        WHERE sp.first_day <= ? AND sp.last_day >= ?
        ORDER BY sp.market, sp.dataset, sp.symbol
        """,
        [*params, first, last, first, last, last, first],
    )


# The listings recorded for one series `x` (market, dataset, interval, symbol): the `listed_ranges` rows that
# name it, or that name everything at their level with NULL. NULL bounds: the directory's whole history.
_LISTED = """
    (SELECT bool_or(l.first_day IS NULL AND l.last_day IS NULL) AS whole,
            min(l.first_day) AS listed_from,
            string_agg(DISTINCT CAST(l.first_day AS VARCHAR) || '..' || CAST(l.last_day AS VARCHAR), '; '
                       ORDER BY CAST(l.first_day AS VARCHAR) || '..' || CAST(l.last_day AS VARCHAR)) AS listed
     FROM listed_ranges l
     WHERE (l.market IS NULL OR l.market = x.market) AND (l.dataset IS NULL OR l.dataset = x.dataset)
       AND (l.symbol IS NULL OR l.symbol = x.symbol)
       AND (l."interval" IS NULL OR l."interval" = x."interval"))
"""


def _with_listing(series_sql: str) -> str:
    """`series_sql` (rows with market, dataset, interval, symbol) plus what the catalog listed for each:
    `complete`, true when the series' whole history was listed (so its first and last day are the archive's);
    else `listed_from` (the first day listed, NULL when nothing was recorded) and `listed` (the ranges listed).
    A sync lists only its own days, so without this a narrow window would pass for a symbol's whole life."""
    return f"""
        SELECT x.*,
               CASE WHEN coalesce(b.whole, false) THEN NULL ELSE b.listed_from END AS listed_from,
               CASE WHEN coalesce(b.whole, false) THEN 'all' ELSE b.listed END AS listed,
               coalesce(b.whole, false) AS complete
        FROM ({series_sql}) x, LATERAL {_LISTED} b
    """


def earliest(connection: Connection, filters: Filters = Filters()) -> pa.Table:
    """Earliest date per symbol per market and dataset, with the intervals offered (seed 001's
    `*_earliest_dates.csv`), and what the catalog listed (`listed_from`, `listed`, `complete`, see
    `_with_listing`): when `complete` is false, `earliest_date` is only the earliest day listed so far."""
    where, params = filters.sql()
    series = f"""
        SELECT market, dataset, "interval", symbol, min(first_day) AS first, max(last_day) AS last
        FROM upstream_files WHERE NOT gone AND {where}
        GROUP BY ALL
    """
    # Per interval first: the dates are the archive's only when every interval's history was listed.
    return _arrow(
        connection,
        f"""
        SELECT market, dataset, symbol, min(first) AS earliest_date, max(last) AS latest_date,
               string_agg(DISTINCT "interval", ',' ORDER BY "interval") AS intervals,
               min(listed_from) AS listed_from,
               string_agg(DISTINCT listed, '; ' ORDER BY listed) AS listed, bool_and(complete) AS complete
        FROM ({_with_listing(series)}) GROUP BY ALL ORDER BY market, dataset, symbol
        """,
        params,
    )


# Multiplier prefixes of contract names (`1000SHIBUSDT`, `1000000BOBUSDT`, `1MBABYDOGEUSDT`; reference §1.4).
# DuckDB's regular expressions are RE2 (no look-ahead), so the letter after the prefix is captured and kept.
_MULTIPLIER = r"^(1000000|100000|10000|1000|100|1M)([A-Z])"


def synchronal(connection: Connection, dataset: str = "klines") -> pa.Table:
    """Base assets traded as a spot USDT pair and as perpetuals in both um (`<BASE>USDT`, or with a multiplier
    prefix) and cm (`<BASE>USD_PERP`), with the spot pair's earliest date and intervals (seed 001's
    `spot_synchronal.csv`)."""
    return _arrow(
        connection,
        f"""
        WITH live AS (SELECT * FROM upstream_files WHERE NOT gone AND dataset = ?),
        spot AS (
            SELECT regexp_replace(symbol, 'USDT$', '') AS base_asset, symbol AS spot_symbol,
                   min(first_day) AS spot_earliest,
                   string_agg(DISTINCT "interval", ',' ORDER BY "interval") AS spot_intervals
            FROM live WHERE market = 'spot' AND symbol LIKE '%USDT' GROUP BY ALL
        ),
        um AS (
            SELECT regexp_replace(regexp_replace(symbol, 'USDT$', ''), '{_MULTIPLIER}', '\\2') AS base_asset,
                   min(symbol) AS um_symbol, min(first_day) AS um_earliest
            FROM live WHERE market = 'um' AND regexp_matches(symbol, '^[A-Z0-9]+USDT$') GROUP BY 1
        ),
        cm AS (
            SELECT regexp_replace(symbol, 'USD_PERP$', '') AS base_asset, symbol AS cm_symbol,
                   min(first_day) AS cm_earliest
            FROM live WHERE market = 'cm' AND symbol LIKE '%USD\\_PERP' ESCAPE '\\' GROUP BY ALL
        )
        SELECT base_asset, spot_symbol, spot_earliest, spot_intervals, um_symbol, um_earliest,
               cm_symbol, cm_earliest
        FROM spot JOIN um USING (base_asset) JOIN cm USING (base_asset)
        ORDER BY base_asset
        """,
        [dataset],
    )


def symbols(connection: Connection, market: Wanted = None) -> pa.Table:
    """Every symbol the archive holds (delisted included), with its life span and flags (`market`: one,
    several, or None for all)."""
    where, params = Filters(market=market).sql()
    return _arrow(
        connection,
        f"""
        SELECT market, symbol, first_day, last_day, delisted, settled, delivery_contract, status,
               contract_type, files, bytes, complete
        FROM symbols WHERE {where} ORDER BY market, symbol
        """,
        params,
    )


# Bars of these intervals span several days and their daily files exist only on the day a bar opens
# (`core.vocabulary.is_daily_file_date`), so their daily files do not mark each trading day.
_PHASED_INTERVALS = (Interval.D3, Interval.W1, Interval.MO1)


def traded_sql(schema: str = "", *, listings: bool = True) -> str:
    """SQL for the symbols that traded on at least one day of `$first .. $last` in the series chosen by
    `$market`, `$datasets` and `$intervals` (kline intervals; other datasets have none), judged from the
    catalog's files alone, whatever it was listed for before. `schema` names an attached lake database
    (`"lake."`), `listings` False a catalog without `listed_ranges`; `$include_settled` adds the `…SETTLED`
    series, whose days follow a contract's delisting.

    A daily file in the range is a trading day. A monthly file stands for its month, unless its daily files are
    known for the whole month (their directory was listed over it) and the symbol's daily files of that month
    (any chosen series with one file a day) all lie before or after the range: a delisting or listing inside
    the month. So a symbol is never dropped for a daily file never published (#309) between two that were, nor
    for daily files not listed yet; a dataset with monthly files only answers to the month.
    """
    files = f"""
        SELECT symbol, dataset, "interval", cadence, first_day, last_day FROM {schema}upstream_files
        WHERE NOT gone AND market = $market AND list_contains($datasets, dataset)
          AND ("interval" IS NULL OR list_contains($intervals, "interval"))
          AND ($include_settled OR NOT symbol LIKE '%SETTLED')
    """
    listed = (
        f"""
        SELECT dataset, "interval", symbol, coalesce(first_day, DATE '0001-01-01') AS lo,
               coalesce(last_day, DATE '9999-12-31') AS hi
        FROM {schema}listed_ranges
        WHERE (market IS NULL OR market = $market) AND (cadence IS NULL OR cadence = 'daily')
        """
        if listings
        else 'SELECT NULL::VARCHAR AS dataset, NULL::VARCHAR AS "interval", NULL::VARCHAR AS symbol, '
        "NULL::DATE AS lo, NULL::DATE AS hi WHERE false"
    )
    phased = [i.value for i in _PHASED_INTERVALS]
    return f"""
        WITH chosen AS ({files}),
        in_range AS (SELECT * FROM chosen WHERE first_day <= $last AND last_day >= $first),
        daily_months AS (
            SELECT symbol, date_trunc('month', first_day)::DATE AS month,
                   min(first_day) AS lo, max(first_day) AS hi
            FROM chosen
            WHERE cadence = 'daily' AND NOT list_contains({phased}, coalesce("interval", ''))
              AND first_day >= date_trunc('month', $first::DATE) AND first_day <= last_day($last::DATE)
            GROUP BY ALL
        ),
        listed AS ({listed})
        SELECT DISTINCT r.symbol FROM in_range r
        LEFT JOIN daily_months d
          ON r.cadence = 'monthly' AND d.symbol = r.symbol AND d.month = r.first_day
        WHERE r.cadence = 'daily' OR d.symbol IS NULL
           OR (d.lo <= least(r.last_day, $last::DATE) AND d.hi >= greatest(r.first_day, $first::DATE))
           OR list_contains({phased}, coalesce(r."interval", ''))
           OR NOT EXISTS (
               SELECT 1 FROM listed l
               WHERE (l.dataset IS NULL OR l.dataset = r.dataset) AND (l.symbol IS NULL OR l.symbol = r.symbol)
                 AND (l."interval" IS NULL OR l."interval" = r."interval")
                 AND l.lo <= r.first_day AND l.hi >= r.last_day
           )
        ORDER BY r.symbol
    """


def has_listings(connection: Connection) -> bool:
    """Whether the catalog records its listings (one written before `listed_ranges` existed does not)."""
    rows = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'listed_ranges' AND NOT temporary"
    ).fetchall()
    return bool(rows[0][0])


def unlisted_days(
    connection: Connection,
    market: str,
    series: list[tuple[str, str | None]],
    symbols: list[str],
    first: dt.date,
    last: dt.date,
) -> dict[tuple[str, str | None], list[tuple[dt.date, dt.date]]]:
    """Per series (dataset, interval), the day ranges of `first .. last` the catalog never listed, in any of
    the dataset's cadences (daily and monthly files are listed apart): for the named `symbols`, a day counts
    as listed when each symbol's directory (or a whole prefix) was listed for it; for every symbol (empty
    `symbols`), when any listing of the series covered it. What a plan made from the catalog as it is cannot
    know. A catalog written before listings were recorded has no record of any: every day is unlisted."""
    if not has_listings(connection):
        return {(dataset, interval): [(first, last)] for dataset, interval in series}
    rows = connection.execute(
        """
        SELECT cadence, dataset, "interval", symbol,
               coalesce(first_day, DATE '0001-01-01'), coalesce(last_day, DATE '9999-12-31')
        FROM listed_ranges WHERE market IS NULL OR market = ?
        """,
        [market],
    ).fetchall()
    result: dict[tuple[str, str | None], list[tuple[dt.date, dt.date]]] = {}
    for dataset, interval in series:
        owners: list[str | None] = list(symbols) or [None]
        gaps: list[tuple[dt.date, dt.date]] = []
        for owner, cadence in itertools.product(
            owners, sorted(c.value for c in get_dataset(dataset).cadences)
        ):
            spans = sorted(
                (lo, hi)
                for c, d, i, s, lo, hi in rows
                if (c is None or c == cadence)
                and (d is None or d == dataset)
                and (i is None or interval is None or i == interval)
                and (s is None or owner is None or s == owner)
            )
            gaps.extend(_uncovered(first, last, spans))
        merged = _merge(gaps)
        if merged:
            result[(dataset, interval)] = merged
    return result


def _uncovered(
    first: dt.date, last: dt.date, spans: list[tuple[dt.date, dt.date]]
) -> list[tuple[dt.date, dt.date]]:
    """The parts of `first .. last` no span covers."""
    return [(s.first, s.last) for s in uncovered(first, last, spans)]


def _merge(ranges: list[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    return [(s.first, s.last) for s in merge_spans(ranges)]


def known_symbol(connection: Connection, symbol: str, market: str | None = None) -> bool:
    """Whether the catalog has ever listed a file of `symbol` (in `market`, when given)."""
    row = connection.execute(
        "SELECT 1 FROM upstream_files WHERE symbol = ? AND (? IS NULL OR market = ?) LIMIT 1",
        [symbol, market, market],
    ).fetchone()
    return row is not None
