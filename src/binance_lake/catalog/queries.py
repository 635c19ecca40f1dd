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

from binance_lake.catalog.store import SERIES_BY_CODE, SERIES_CODE_SPAN, SERIES_CODES
from binance_lake.core.timerange import iter_days
from binance_lake.storage.database import Connection


@dataclass(frozen=True)
class Filters:
    """Which series a query looks at; None means all."""

    market: str | None = None
    dataset: str | None = None
    interval: str | None = None
    symbol: str | None = None

    def sql(self, alias: str = "") -> tuple[str, list[object]]:
        prefix = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("market", self.market),
            ("dataset", self.dataset),
            ('"interval"', self.interval),
            ("symbol", self.symbol),
        ):
            if value is not None:
                clauses.append(f"{prefix}{column} = ?")
                params.append(value)
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
        if (filters.market is None or market == filters.market)
        and (filters.dataset is None or dataset == filters.dataset)
        and (filters.interval is None or interval == filters.interval)
    )
    base = (day - dt.date(1970, 1, 1)).days * SERIES_CODE_SPAN
    keys = [base + code for code in codes] or [-1]
    clauses = ["day_series BETWEEN ? AND ?"]
    params: list[object] = [keys[0], keys[-1]]
    if 1 < len(keys) < len(SERIES_CODES):  # a subset of the day's series
        clauses.append(f"day_series IN ({', '.join('?' * len(keys))})")
        params.extend(keys)
    if filters.symbol:
        clauses.append("symbol = ?")
        params.append(filters.symbol)
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
        SELECT s.market, s.dataset, s."interval", s.symbol, list((s.first, s.last) ORDER BY s.first), any_value(c.files)
        FROM spans s JOIN counts c
          ON c.market = s.market AND c.dataset = s.dataset AND c."interval" IS NOT DISTINCT FROM s."interval"
         AND c.symbol = s.symbol
        GROUP BY ALL ORDER BY s.market, s.dataset, s."interval", s.symbol
        """,
        params,
    ).fetchall()
    result = []
    for market, dataset, interval, symbol, pairs, files in rows:
        spans = tuple(Span(first, last) for first, last in pairs)
        missing = tuple(
            day
            for before, after in itertools.pairwise(spans)
            for day in iter_days(before.last + dt.timedelta(days=1), after.first - dt.timedelta(days=1))
        )
        result.append(
            Timeline(
                market, dataset, interval, symbol, spans[0].first, spans[-1].last, spans, missing, int(files)
            )
        )
    return result


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
            }
            for t in timelines
        ]
    )


def date_range(
    connection: Connection, first: dt.date, last: dt.date, filters: Filters = Filters()
) -> pa.Table:
    """Symbols listed, delisted, and active in `first .. last` (per market and dataset).

    listed: its first day falls in the range; delisted: its last day falls in the range and the symbol is
    delisted; active: it has data on at least one day of the range.
    """
    where, params = filters.sql("u")
    return _arrow(
        connection,
        f"""
        WITH spans AS (
            SELECT u.market, u.dataset, u.symbol, min(u.first_day) AS first_day, max(u.last_day) AS last_day
            FROM upstream_files u WHERE NOT u.gone AND {where} GROUP BY ALL
        )
        SELECT sp.market, sp.dataset, sp.symbol, sp.first_day, sp.last_day,
               sp.first_day BETWEEN ? AND ? AS listed,
               coalesce(sy.delisted, false) AND sp.last_day BETWEEN ? AND ? AS delisted,
               true AS active
        FROM spans sp LEFT JOIN symbols sy USING (market, symbol)
        WHERE sp.first_day <= ? AND sp.last_day >= ?
        ORDER BY sp.market, sp.dataset, sp.symbol
        """,
        [*params, first, last, first, last, last, first],
    )


def earliest(connection: Connection, filters: Filters = Filters()) -> pa.Table:
    """Earliest date per symbol per market and dataset, with the intervals offered (seed 001's
    `*_earliest_dates.csv`)."""
    where, params = filters.sql()
    return _arrow(
        connection,
        f"""
        SELECT market, dataset, symbol, min(first_day) AS earliest_date, max(last_day) AS latest_date,
               string_agg(DISTINCT "interval", ',' ORDER BY "interval") AS intervals
        FROM upstream_files WHERE NOT gone AND {where}
        GROUP BY ALL ORDER BY market, dataset, symbol
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


def symbols(connection: Connection, market: str | None = None) -> pa.Table:
    """Every symbol the archive holds (delisted included), with its life span and flags."""
    return _arrow(
        connection,
        """
        SELECT market, symbol, first_day, last_day, delisted, settled, delivery_contract, status,
               contract_type, files, bytes
        FROM symbols WHERE ? IS NULL OR market = ? ORDER BY market, symbol
        """,
        [market, market],
    )


def known_symbol(connection: Connection, symbol: str, market: str | None = None) -> bool:
    """Whether the catalog has ever listed a file of `symbol` (in `market`, when given)."""
    row = connection.execute(
        "SELECT 1 FROM upstream_files WHERE symbol = ? AND (? IS NULL OR market = ?) LIMIT 1",
        [symbol, market, market],
    ).fetchone()
    return row is not None
