"""Day-level provenance: for every stored partition and UTC day, where its rows came from.

The owner of `day_provenance` (declared in storage/schema.py). One row per (partition path, day): the source
(`core.provenance.Provenance`), the upstream reference (an archive key with its ETag, or a REST request or
stream session), the rows that day holds, and when it was written. Every ingest writes the days it replaced
(`record_days`, in the connection that records the partition files), so the table always says who wrote each
stored day last; readers ask `held_runs` which days a series holds instead of deriving them from
`file_state`. `rows` is NULL only for days backfilled from a lake written before this table existed whose
monthly files' per-day split was never recorded (see the schema migration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from binance_lake.core.partitions import Partition
from binance_lake.core.provenance import Provenance
from binance_lake.core.series_key import SeriesKey
from binance_lake.storage.database import Connection, replace_table


@dataclass(frozen=True)
class DayRows:
    """Rows one upstream source (an archive key, a REST request, a stream session) gave one day of a
    partition: what an ingest knows while the rows are in memory."""

    day: dt.date
    upstream_ref: str
    rows: int


@dataclass(frozen=True)
class DayRecord:
    """One stored day of a partition and where its rows came from."""

    partition: Partition
    day: dt.date
    source: Provenance
    upstream_ref: str
    etag: str | None
    rows: int | None

    @property
    def path(self) -> str:
        return self.partition.posix


_FIELDS: list[pa.Field[Any]] = [
    pa.field("path", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("market", pa.string()),
    pa.field("interval", pa.string()),
    pa.field("symbol", pa.string()),
    pa.field("day", pa.date32()),
    pa.field("source", pa.string()),
    pa.field("upstream_ref", pa.string()),
    pa.field("etag", pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("written_at", pa.timestamp("us", tz="UTC")),
]
_SCHEMA = pa.schema(_FIELDS)


def series_columns(partition: Partition) -> dict[str, str | None]:
    """The series columns every per-partition table of the lake carries (dataset, market, interval, symbol)."""
    return {
        "dataset": partition.dataset,
        "market": partition.market.value,
        "interval": partition.interval.value if partition.interval is not None else None,
        "symbol": partition.symbol,
    }


def record_days(
    connection: Connection, records: Iterable[DayRecord], *, now: dt.datetime | None = None
) -> None:
    """Replace the provenance of these (partition, day)s (one transaction; the last record of a day wins).

    Days of the partition not in `records` keep theirs: an ingest replaces exactly the days it wrote."""
    latest = {(r.partition, r.day): r for r in records}
    if not latest:
        return
    # Built column by column, each partition's path and series columns once: a 1200-file sync records
    # ~35 000 days, and a dict per row cost ~3x as much as the DuckDB write.
    series: dict[Partition, tuple[str, dict[str, str | None]]] = {}
    columns: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names if name != "written_at"}
    for r in latest.values():
        known = series.get(r.partition)
        if known is None:
            known = series[r.partition] = (r.path, series_columns(r.partition))
        columns["path"].append(known[0])
        for name, value in known[1].items():
            columns[name].append(value)
        columns["day"].append(r.day)
        columns["source"].append(r.source.value)
        columns["upstream_ref"].append(r.upstream_ref)
        columns["etag"].append(r.etag)
        columns["rows"].append(r.rows)
    when = pa.array([now or dt.datetime.now(dt.UTC)] * len(latest), _SCHEMA.field("written_at").type)
    batch = pa.table(
        [*(pa.array(columns[f.name], f.type) for f in _FIELDS if f.name != "written_at"), when],
        schema=_SCHEMA,
    )
    replace_table(connection, "day_provenance", ("path", "day"), batch)


@dataclass(frozen=True)
class HeldDay:
    """A stored day of a series as `day_provenance` records it."""

    dataset: str
    interval: str | None
    symbol: str
    day: dt.date
    source: Provenance
    upstream_ref: str
    etag: str | None
    rows: int | None


def held_days(
    connection: Connection,
    *,
    market: str,
    dataset: str,
    interval: str | None,
    symbols: Sequence[str],
    first: dt.date,
    last: dt.date,
    schema: str = "",
) -> list[HeldDay]:
    """Every stored day of the series for `symbols` within `first .. last`, with its source, in (symbol,
    day) order. `schema` names an attached lake (`"lake."`, as `load.connection.attached` opens it)."""
    rows = connection.execute(
        f"""
        SELECT dataset, "interval", symbol, day, source, upstream_ref, etag, "rows" FROM {schema}day_provenance
        WHERE market = ? AND dataset = ? AND "interval" IS NOT DISTINCT FROM ? AND list_contains(?, symbol)
          AND day BETWEEN ? AND ?
        ORDER BY symbol, day
        """,
        [market, dataset, interval, list(symbols), first, last],
    ).fetchall()
    return [HeldDay(d, i, s, day, Provenance(src), ref, etag, n) for d, i, s, day, src, ref, etag, n in rows]


def held_days_of(
    connection: Connection, series: Sequence[SeriesKey], *, first: dt.date, last: dt.date
) -> dict[SeriesKey, list[HeldDay]]:
    """`held_days` for many series at once — one query per (market, dataset, interval), not one per series —
    each series' days in day order; a series without any maps to an empty list."""
    groups: dict[tuple[str, str, str | None], list[SeriesKey]] = {}
    for key in series:
        groups.setdefault(
            (key.market.value, key.dataset, key.interval.value if key.interval else None), []
        ).append(key)
    found: dict[SeriesKey, list[HeldDay]] = {key: [] for key in series}
    for (market, dataset, interval), keys in groups.items():
        by_symbol = {key.symbol: key for key in keys}
        days = held_days(
            connection,
            market=market,
            dataset=dataset,
            interval=interval,
            symbols=sorted(by_symbol),
            first=first,
            last=last,
        )
        for held in days:
            found[by_symbol[held.symbol]].append(held)
    return found


def rest_days(
    connection: Connection,
    *,
    market: str,
    datasets: Sequence[str],
    first: dt.date,
    last: dt.date,
    sources: Sequence[Provenance] = (Provenance.REST,),
) -> list[HeldDay]:
    """The provisional days (source `rest`, or each of `sources`: a stream collector's days too) of `datasets`
    in `market` within `first .. last`, in one query: what a sync about to ingest archive files may replace
    (engine/reconcile.py)."""
    rows = connection.execute(
        """
        SELECT dataset, "interval", symbol, day, source, upstream_ref, etag, "rows" FROM day_provenance
        WHERE market = ? AND list_contains(?, dataset) AND list_contains(?, source) AND day BETWEEN ? AND ?
        ORDER BY dataset, "interval", symbol, day
        """,
        [market, list(datasets), [s.value for s in sources], first, last],
    ).fetchall()
    return [HeldDay(d, i, s, day, Provenance(src), ref, etag, n) for d, i, s, day, src, ref, etag, n in rows]


def held_runs_sql(source: str, where: str = "true") -> str:
    """SQL over a `day_provenance` table (`source`: its qualified name) giving the held days of the series
    matching `where` as runs (market, dataset, "interval", symbol, first_day, last_day): consecutive days
    collapse into one row, so a reader fetches a row per run rather than per day."""
    return f"""
        SELECT market, dataset, "interval", symbol, min(day) AS first_day, max(day) AS last_day
        FROM (
            SELECT market, dataset, "interval", symbol, day,
                   day - (row_number() OVER (
                       PARTITION BY market, dataset, "interval", symbol ORDER BY day))::INTEGER AS island
            FROM (SELECT DISTINCT market, dataset, "interval", symbol, day FROM {source} WHERE {where})
        )
        GROUP BY market, dataset, "interval", symbol, island
    """


@dataclass(frozen=True)
class DaysWanted:
    """One symbol's stored days `first .. last` (both included) whose versions an exporter compares."""

    symbol: str
    first: dt.date
    last: dt.date


def day_fingerprints(
    connection: Connection,
    *,
    market: str,
    dataset: str,
    interval: str | None,
    wanted: Sequence[DaysWanted],
) -> dict[str, str]:
    """Per symbol, a fingerprint of its stored days `first .. last`: which days, their rows and when each was
    written (so a re-upload or a replaced provisional day changes it). Order-free (a XOR of row hashes) and one
    query for all symbols. A symbol with no stored day in its span is absent from the answer."""
    if not wanted:
        return {}
    rows = connection.execute(
        """
        WITH wanted AS (
            SELECT unnest($symbols) AS symbol, unnest($firsts) AS first_day, unnest($lasts) AS last_day
        )
        SELECT p.symbol, count(*), bit_xor(hash(p.day, p."rows", p.written_at))
        FROM day_provenance p JOIN wanted w ON p.symbol = w.symbol AND p.day BETWEEN w.first_day AND w.last_day
        WHERE p.market = $market AND p.dataset = $dataset AND p."interval" IS NOT DISTINCT FROM $interval
        GROUP BY p.symbol
        """,
        {
            "symbols": [w.symbol for w in wanted],
            "firsts": [w.first for w in wanted],
            "lasts": [w.last for w in wanted],
            "market": market,
            "dataset": dataset,
            "interval": interval,
        },
    ).fetchall()
    return {str(symbol): f"{count}:{digest:016x}" for symbol, count, digest in rows}


def first_held_days(
    connection: Connection,
    *,
    market: str,
    dataset: str,
    interval: str | None,
    symbols: Sequence[str],
    first: dt.date,
    last: dt.date,
) -> dict[str, dt.date]:
    """Each symbol's first stored day within `first .. last` (symbols with none are absent)."""
    rows = connection.execute(
        """
        SELECT symbol, min(day) FROM day_provenance
        WHERE market = ? AND dataset = ? AND "interval" IS NOT DISTINCT FROM ? AND list_contains(?, symbol)
          AND day BETWEEN ? AND ?
        GROUP BY symbol
        """,
        [market, dataset, interval, list(symbols), first, last],
    ).fetchall()
    return {str(symbol): day for symbol, day in rows}


def has_day_provenance(connection: Connection) -> bool:
    """Whether the connected lake has `day_provenance` (a lake older than migration 3, read as it is, or a
    test's hand-made lake may not)."""
    row = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'day_provenance' "
        "AND database_name = current_database()"
    ).fetchone()
    return bool(row and row[0])


def last_days_with_rows(
    connection: Connection,
    *,
    market: str,
    dataset: str,
    interval: str | None,
    symbols: Sequence[str],
    last: dt.date,
) -> dict[str, dt.date]:
    """Each symbol's last stored day up to `last` that holds rows (a monthly file of a contract delisted
    mid-month records its later days with 0 rows); days of unknown rows (NULL, backfilled) count as holding."""
    rows = connection.execute(
        """
        SELECT symbol, max(day) FROM day_provenance
        WHERE market = ? AND dataset = ? AND "interval" IS NOT DISTINCT FROM ? AND list_contains(?, symbol)
          AND day <= ? AND coalesce("rows", 1) > 0
        GROUP BY symbol
        """,
        [market, dataset, interval, list(symbols), last],
    ).fetchall()
    return {str(symbol): day for symbol, day in rows}


@dataclass(frozen=True)
class SeriesEnd:
    """A held series and its newest stored day, with that day's source."""

    market: str
    dataset: str
    interval: str | None
    symbol: str
    last_day: dt.date
    source: Provenance
    rows: int | None = None  # that day's rows


def series_ends(connection: Connection, *, market: str | None = None) -> list[SeriesEnd]:
    """Every series `day_provenance` holds (of `market` when given) with its newest day and that day's source,
    in (market, dataset, interval, symbol) order."""
    rows = connection.execute(
        """
        SELECT market, dataset, "interval", symbol, day, source, "rows" FROM day_provenance
        WHERE ? IS NULL OR market = ?
        QUALIFY row_number() OVER (PARTITION BY market, dataset, "interval", symbol ORDER BY day DESC) = 1
        ORDER BY market, dataset, "interval" NULLS FIRST, symbol
        """,
        [market, market],
    ).fetchall()
    return [SeriesEnd(m, d, i, s, day, Provenance(src), n) for m, d, i, s, day, src, n in rows]


def provenance_table(
    connection: Connection, *, where: str = "true", params: dict[str, Any] | None = None
) -> pa.Table:
    """Every recorded (partition, day) matching `where` (SQL over the table's columns, with named `params`):
    path, dataset, market, interval, symbol, day, source, upstream_ref, etag, rows, written_at."""
    table: pa.Table = connection.sql(
        f'SELECT path, dataset, market, "interval", symbol, day, source, upstream_ref, etag, "rows", written_at '
        f"FROM day_provenance WHERE {where}",
        params=params or {},
    ).to_arrow_table()
    return table


def newest_days(connection: Connection) -> pa.Table:
    """Each held series' newest day: market, dataset, interval, symbol, newest, days."""
    table: pa.Table = connection.sql(
        'SELECT market, dataset, "interval", symbol, max(day) AS newest, count(*) AS days FROM day_provenance '
        'GROUP BY ALL ORDER BY market, dataset, "interval", symbol'
    ).to_arrow_table()
    return table


def provenance_cells(
    connection: Connection, *, monthly: bool, symbols: Sequence[str] = (), first: dt.date, last: dt.date
) -> pa.Table:
    """Held days counted per symbol, time bucket (the day, or its month when `monthly`) and source, for a
    coverage picture: symbol, bucket, source, days, rows. `symbols` empty: all."""
    bucket = "date_trunc('month', day)::DATE" if monthly else "day"
    table: pa.Table = connection.sql(
        f"""
        SELECT symbol, {bucket} AS bucket, source, count(DISTINCT day) AS days, sum("rows")::BIGINT AS "rows"
        FROM day_provenance
        WHERE day BETWEEN $first AND $last AND (len($symbols) = 0 OR list_contains($symbols, symbol))
        GROUP BY ALL ORDER BY symbol, bucket
        """,
        params={"first": first, "last": last, "symbols": list(symbols)},
    ).to_arrow_table()
    return table


def held_bounds(connection: Connection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day any series holds."""
    rows = connection.execute("SELECT min(day), max(day) FROM day_provenance").fetchall()
    return (rows[0][0], rows[0][1]) if rows else (None, None)
