"""Why rows are missing: every gap classified, in DuckDB over Arrow inputs (no Python loop over days or bars).

Two kinds of gaps. Whole days a series does not hold inside its scope (from its first held day, or the asked
start, to the asked end or today), classified in this order:
- `quarantined`: a file covering the day failed verification twice (its `.CHECKSUM` never matched);
- `not-yet`: inside the publication lag (`PUBLICATION_LAG_DAYS`: a day's file appears the next morning);
- `delisted`: after the symbol's last day, when the catalog says it is delisted;
- `not-synced`: the archive lists a file covering the day, the lake does not hold it (run `sync`);
- `missing-file`: the catalog listed the series' directory over the day and found no file (a 404 day);
- `unlisted`: the catalog never listed the day, so nothing is known (run `catalog refresh` to know).
The scope ends at the asked end, or without one at the series' last held day (staleness is `freshness`).
And bars missing on the interval grid inside held days (from quality/scan.py): `maintenance` when the same
window is missing for at least `MAINTENANCE_SHARE` of the symbols trading that day (and two or more), the
exchange-wide signature; otherwise `upstream`: the archive lacks those bars. Whether REST has the bars of an
`upstream` or a `missing-file` gap is asked through a `RestProbe` when one is given (implemented above this
package, on the shared REST client: `facade/rest_probe.py`); the kind stays, the detail says what REST
answered (then `update --fill-gaps` fetches them), or that REST was not asked.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import duckdb
import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.quality.store import GAPS_SCHEMA
from binance_lake.storage.schema import FileStatus

PUBLICATION_LAG_DAYS = quirks.PUBLICATION_LAG_DAYS
MAINTENANCE_SHARE = quirks.MAINTENANCE_SHARE


class RestProbe(Protocol):
    """The hook for REST fill: whether REST serves bars of `gaps` (GAPS_SCHEMA rows of kind `upstream`);
    one boolean per row, None where it cannot say."""

    def __call__(self, gaps: pa.Table) -> list[bool | None]: ...


def day_gaps(
    held: pa.Table,
    upstream: pa.Table,
    lives: pa.Table,
    files: pa.Table,
    listed: pa.Table,
    *,
    first: dt.date | None,
    last: dt.date | None,
    today: dt.date,
) -> pa.Table:
    """Runs of missing days per series, classified (GAPS_SCHEMA). `held`: the series' held days (market,
    dataset, interval, symbol, day); `upstream`: catalog files (market, dataset, interval, symbol, first_day,
    last_day, gone); `lives`: market, symbol, first_day, last_day, delisted; `files`: file_state rows
    (market, dataset, interval, symbol, first_day, last_day, status); `listed`: the catalog's complete listings
    (market, dataset, symbol, interval, first_day, last_day; NULL matches every value)."""
    connection = duckdb.connect()
    try:
        tables = (("held", held), ("up", upstream), ("lives", lives), ("files", files), ("listed", listed))
        for name, table in tables:
            connection.register(name, table)
        result = connection.sql(
            """
            WITH h AS (
                SELECT market, dataset, coalesce("interval", '') AS iv, symbol, day FROM held
            ), u AS (
                SELECT market, dataset, coalesce("interval", '') AS iv, symbol, first_day, last_day FROM up
                WHERE NOT gone
            ), f AS (
                SELECT market, dataset, coalesce("interval", '') AS iv, symbol, first_day, last_day FROM files
                WHERE status = $quarantined
            ), series AS (
                SELECT market, dataset, iv, symbol, min(day) AS first_held, max(day) AS last_held
                FROM h GROUP BY ALL
            ), scope AS (
                SELECT s.*, l.last_day AS life_last, coalesce(l.delisted, false) AS delisted,
                       greatest(coalesce($first, s.first_held), coalesce(l.first_day, s.first_held)) AS lo,
                       coalesce($last, s.last_held) AS hi
                FROM series s LEFT JOIN lives l USING (market, symbol)
            ), days AS (
                SELECT market, dataset, iv, symbol, life_last, delisted,
                       unnest(generate_series(lo, hi, INTERVAL 1 DAY))::DATE AS day
                FROM scope WHERE lo <= hi
            ), missing AS (
                SELECT d.* FROM days d ANTI JOIN h USING (market, dataset, iv, symbol, day)
            ), classified AS (
                SELECT m.market, m.dataset, m.iv, m.symbol, m.day,
                    CASE
                        WHEN EXISTS (SELECT 1 FROM f WHERE f.market = m.market AND f.dataset = m.dataset
                                     AND f.iv = m.iv AND f.symbol = m.symbol
                                     AND m.day BETWEEN f.first_day AND f.last_day) THEN 'quarantined'
                        WHEN m.day > $today - $lag THEN 'not-yet'
                        WHEN m.delisted AND m.day > m.life_last THEN 'delisted'
                        WHEN EXISTS (SELECT 1 FROM u WHERE u.market = m.market AND u.dataset = m.dataset
                                     AND u.iv = m.iv AND u.symbol = m.symbol
                                     AND m.day BETWEEN u.first_day AND u.last_day) THEN 'not-synced'
                        WHEN EXISTS (SELECT 1 FROM listed l WHERE (l.market IS NULL OR l.market = m.market)
                                     AND (l.dataset IS NULL OR l.dataset = m.dataset)
                                     AND (l.symbol IS NULL OR l.symbol = m.symbol)
                                     AND (l."interval" IS NULL OR l."interval" = nullif(m.iv, ''))
                                     AND (l.first_day IS NULL OR l.first_day <= m.day)
                                     AND (l.last_day IS NULL OR m.day <= l.last_day)) THEN 'missing-file'
                        ELSE 'unlisted'
                    END AS kind
                FROM missing m
            ), runs AS (
                SELECT *, day - (row_number() OVER (
                    PARTITION BY market, dataset, iv, symbol, kind ORDER BY day))::INTEGER AS island
                FROM classified
            )
            SELECT market, dataset, nullif(iv, '') AS "interval", symbol, min(day) AS first_day,
                   max(day) AS last_day, NULL::TIMESTAMPTZ AS start_time, NULL::TIMESTAMPTZ AS end_time,
                   NULL::BIGINT AS bars, kind, (count(*) || ' day(s)') AS detail
            FROM runs GROUP BY market, dataset, iv, symbol, kind, island
            ORDER BY market, dataset, "interval", symbol, first_day
            """,
            params={
                "first": first,
                "last": last,
                "today": today,
                "lag": PUBLICATION_LAG_DAYS,
                "quarantined": FileStatus.QUARANTINED.value,
            },
        ).to_arrow_table()
    finally:
        connection.close()
    classified: pa.Table = result.cast(GAPS_SCHEMA)
    return classified


def bar_gaps(bar_gaps: pa.Table, trading: pa.Table, probe: RestProbe | None = None) -> pa.Table:
    """Missing bars classified (GAPS_SCHEMA). `bar_gaps`: market, dataset, interval, symbol, gap_start,
    gap_end, bars; `trading`: market, dataset, interval, day, symbols (how many symbols have rows that day)."""
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("g", bar_gaps)
        connection.register("trading", trading)
        result = connection.sql(
            """
            WITH g2 AS (
                SELECT *, CAST(gap_start AS DATE) AS day,
                       count(*) OVER (PARTITION BY market, dataset, "interval", gap_start, gap_end) AS sharing
                FROM g
            )
            SELECT g2.market, g2.dataset, g2."interval", g2.symbol, g2.day AS first_day,
                   CAST(g2.gap_end AS DATE) AS last_day, g2.gap_start AS start_time, g2.gap_end AS end_time,
                   g2.bars,
                   CASE WHEN g2.sharing >= 2 AND g2.sharing >= $share * coalesce(t.symbols, 0) THEN 'maintenance'
                        ELSE 'upstream' END AS kind,
                   CASE WHEN g2.sharing >= 2 AND g2.sharing >= $share * coalesce(t.symbols, 0)
                        THEN 'missing for ' || g2.sharing || ' of ' || coalesce(t.symbols, 0) || ' symbols trading'
                        ELSE 'the archive lacks these bars (REST not asked)' END AS detail
            FROM g2 LEFT JOIN trading t
              ON t.market = g2.market AND t.dataset = g2.dataset
             AND t."interval" IS NOT DISTINCT FROM g2."interval" AND t.day = g2.day
            ORDER BY g2.market, g2.dataset, g2."interval", g2.symbol, g2.gap_start
            """,
            params={"share": MAINTENANCE_SHARE},
        ).to_arrow_table()
    finally:
        connection.close()
    gaps: pa.Table = result.cast(GAPS_SCHEMA)
    if probe is not None and gaps.num_rows:
        return probed(gaps, probe)
    return gaps


PROBED_KINDS = ("upstream", "missing-file")
"""The gaps a `RestProbe` is asked about: bars the archive lacks on held days, and days without a file."""


def probed(gaps: pa.Table, probe: RestProbe) -> pa.Table:
    """The `upstream` and `missing-file` gaps' details with what REST said (the kind stays: the archive lacks
    them either way)."""
    asked = [i for i, k in enumerate(gaps.column("kind").to_pylist()) if k in PROBED_KINDS]
    answers = probe(gaps.take(asked)) if asked else []
    detail = gaps.column("detail").to_pylist()
    kinds = gaps.column("kind").to_pylist()
    for i, answer in zip(asked, answers, strict=True):
        what = (
            "the archive lacks these bars"
            if kinds[i] == "upstream"
            else f"{detail[i]} without an archive file"
        )
        if answer is True:
            detail[i] = f"{what}; REST has them: fill with `binance-lake update --fill-gaps`"
        elif answer is False:
            detail[i] = f"{what}, and REST too"
    return gaps.set_column(gaps.schema.get_field_index("detail"), "detail", pa.array(detail, pa.string()))
