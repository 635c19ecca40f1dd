"""The rules run over the Parquet: one DuckDB query per series group (market, dataset, interval) over all its
partition files at once, never a Python loop over rows.

For a group (or a chunk of its symbols) ONE read of its files answers everything: a window gives each row its
predecessor's values, and one aggregation per (partition, symbol, day) counts the rows, the rows breaking each
rule of the group's families (`quality/rules.py`) with their worst measure, and keeps the steps between
neighbouring rows wider than the grid. The small aggregate then gives the violations, the rows each
(partition, day) holds (compared with `day_provenance` by quality/run.py) and the bars missing on the interval
grid inside each run of held days (the gap candidates quality/gaps.py classifies). The connection is a private
in-memory DuckDB: the lake's database is not held open while the files are read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.core.datasets import get_dataset
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.quality.rules import Family, Rule, families_of

DAY_MS = 86_400_000
# Grids a continuity check can walk: fixed-length bars (not 3d/1w/1M, whose bars are calendar-aligned) and
# the 5-minute metrics.
METRICS_STEP_MS = int(quirks.METRICS_PERIOD.total_seconds() * 1000)


@dataclass(frozen=True)
class Group:
    """One series group: every symbol's partitions of (market, dataset, interval)."""

    market: Market
    dataset: str
    interval: Interval | None
    files: tuple[str, ...]  # absolute paths

    @property
    def step_ms(self) -> int | None:
        """The grid step, or None when the dataset has no fixed grid."""
        if self.dataset == "metrics":
            return METRICS_STEP_MS
        if self.interval is None or self.interval.is_calendar:
            return None
        step = self.interval.milliseconds
        return step if step <= DAY_MS else None


@dataclass(frozen=True)
class GroupScan:
    violations: pa.Table  # rule, symbol, day, n, value
    day_rows: pa.Table  # path, symbol, day, rows (rows the Parquet holds per partition and day)
    bar_gaps: pa.Table  # symbol, gap_start, gap_end (open times of the first and last missing bar), bars
    file_rows: pa.Table  # path, rows (each file's rows by its footer, which the pass has already opened)


def _prev_columns(families: frozenset[Family]) -> list[str]:
    wanted: list[str] = ["day", "ts"]
    if Family.BARS in families:
        wanted.append("close")
    if Family.FUNDING in families:
        wanted.append("funding_interval_hours")
    if Family.AGG_TRADES in families:
        wanted += ["agg_trade_id", "first_trade_id", "last_trade_id"]
    if Family.TRADES in families:
        wanted.append("id")
    return wanted


def _rule_columns(group: Group, rules: Sequence[Rule]) -> list[tuple[Rule, str, str]]:
    """The group's per-row rules with their condition and measure, thresholds and key filled in."""
    families = families_of(group.dataset)
    spec = get_dataset(group.dataset)
    keys = [c for c in spec.unique_key if c != spec.time_column]
    # A dataset keyed by the whole row (no unique key) is de-duplicated by ingest on every column: no rule.
    same_key = (
        " AND ".join(["ts = prev_ts", *(f'"{c}" = "prev_{c}"' for c in keys)]) if spec.unique_key else "false"
    )
    found = []
    for rule in rules:
        if rule.when and rule.family in families:
            fill = {"threshold": repr(float(rule.threshold)), "same_key": same_key}
            found.append((rule, rule.when.format(**fill), rule.measure.format(**fill)))
    return found


def _lagged(when: str, measure: str) -> bool:
    """Whether a rule reads its row's predecessor (`prev_*`), so it must be answered after the window."""
    return "prev_" in when or "prev_" in measure


def _pass_sql(group: Group, rules: Sequence[Rule], first: dt.date | None, last: dt.date | None) -> str:
    """The one pass over the group's files: per (file, symbol, day) its rows, first and last time, each
    rule's breaking rows and worst measure, and the steps between neighbouring rows wider than the grid.

    The window (each row's predecessor, per symbol in time and key order) sorts every row it carries, so it
    carries as little as it can: the rules that read one row alone are answered before it (a boolean and a
    measure per rule instead of the columns they read), only the columns some rule reads as `prev_*` are
    lagged, and the file is its index in `$files` (`file_index`), not its path string."""
    spec = get_dataset(group.dataset)
    time = spec.time_column
    families = families_of(group.dataset)
    keys = [c for c in spec.unique_key if c != time]
    order = ", ".join(["ts", *(f'"{c}"' for c in keys)])
    columns = _rule_columns(group, rules)
    read = " ".join(f"{when} {measure}" for _rule, when, measure in columns)
    # prev_ts always (the grid steps); prev_<key> when the duplicates rule compares keys.
    lagged = [c for c in dict.fromkeys([*_prev_columns(families), *keys]) if c == "ts" or f"prev_{c}" in read]
    lags = "".join(f', lag("{c}") OVER (PARTITION BY symbol ORDER BY {order}) AS "prev_{c}"' for c in lagged)
    bounds = []
    if first is not None:
        bounds.append(f"day >= DATE '{first.isoformat()}'")
    if last is not None:
        bounds.append(f"day <= DATE '{last.isoformat()}'")
    where = " AND ".join(bounds) or "true"
    before, measures = "", ""
    for i, (_rule, when, measure) in enumerate(columns):
        if _lagged(when, measure):
            measures += f", count_if({when})::BIGINT AS n_{i}"
            if measure != "NULL":
                measures += f", max({measure}) FILTER (WHERE {when})::DOUBLE AS v_{i}"
        else:
            before += f", ({when}) AS r_{i}" + (f", ({measure}) AS m_{i}" if measure != "NULL" else "")
            measures += f", count_if(r_{i})::BIGINT AS n_{i}"
            if measure != "NULL":
                measures += f", max(m_{i}) FILTER (WHERE r_{i})::DOUBLE AS v_{i}"
    step = group.step_ms
    steps = (
        f", list({{'a': epoch_ms(prev_ts), 'b': epoch_ms(ts)}}) FILTER (WHERE prev_ts IS NOT NULL "
        f"AND epoch_ms(ts) - epoch_ms(prev_ts) > {step}) AS steps"
        if step is not None
        else ""
    )
    return f"""
        WITH raw AS (
            SELECT *, "{time}" AS ts,
                   (DATE '1970-01-01' + (epoch_ms("{time}") // {DAY_MS})::INTEGER) AS day,
                   file_index AS file
            FROM read_parquet($files, hive_partitioning = true, union_by_name = true)
        ),
        t AS (SELECT *{before} FROM raw WHERE {where}),
        w AS (SELECT *{lags} FROM t)
        SELECT file, symbol, day, count(*)::BIGINT AS "rows", epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi
               {measures}{steps}
        FROM w GROUP BY file, symbol, day"""


def _violations_sql(group: Group, rules: Sequence[Rule]) -> str:
    parts = [
        f"SELECT '{rule.name}' AS rule, symbol, day, sum(n_{i})::BIGINT AS n, "
        + (f"max(v_{i})" if measure != "NULL" else "NULL::DOUBLE")
        + f" AS value FROM agg WHERE n_{i} > 0 GROUP BY symbol, day"
        for i, (rule, _when, measure) in enumerate(_rule_columns(group, rules))
    ]
    return " UNION ALL ".join(parts) or (
        "SELECT NULL::VARCHAR AS rule, NULL::VARCHAR AS symbol, NULL::DATE AS day, NULL::BIGINT AS n, "
        "NULL::DOUBLE AS value WHERE false"
    )


def _gaps_sql(step: int) -> str:
    """Missing bars inside each run of held days (`held`: symbol, first_day, last_day): steps between
    neighbouring bars (the pass's `steps`) that stay inside one run, and each run's edges (its first bar
    after the run's start, its last before the run's end, or the whole run when it holds no bar)."""
    day = f"(DATE '1970-01-01' + (({{ms}}) // {DAY_MS})::INTEGER)"
    return f"""
        steps AS (
            SELECT symbol, s.a AS a, s.b AS b FROM (SELECT symbol, unnest(steps) AS s FROM agg)
        ), inner_steps AS (
            SELECT s.symbol, s.a, s.b FROM steps s JOIN held h ON s.symbol = h.symbol
             AND {day.format(ms="s.a")} BETWEEN h.first_day AND h.last_day
             AND {day.format(ms="s.b")} BETWEEN h.first_day AND h.last_day
        ), daily AS (
            SELECT symbol, day, min(lo) AS lo, max(hi) AS hi FROM agg GROUP BY ALL
        ), runs AS (
            SELECT h.symbol, epoch_ms(h.first_day::TIMESTAMP) AS start_ms,
                   epoch_ms((h.last_day + 1)::TIMESTAMP) AS end_ms, min(d.lo) AS lo, max(d.hi) AS hi
            FROM held h LEFT JOIN daily d ON d.symbol = h.symbol AND d.day BETWEEN h.first_day AND h.last_day
            GROUP BY ALL
        ), edges AS (
            SELECT symbol, start_ms - {step} AS a, coalesce(lo, end_ms) AS b FROM runs
            UNION ALL
            SELECT symbol, hi AS a, end_ms AS b FROM runs WHERE hi IS NOT NULL
        ), found AS (
            SELECT * FROM inner_steps UNION ALL SELECT * FROM edges
        )
        SELECT symbol, make_timestamptz((a + {step}) * 1000) AS gap_start,
               make_timestamptz((b - {step}) * 1000) AS gap_end, ((b - a) // {step} - 1)::BIGINT AS bars
        FROM found WHERE b - a > {step}
        ORDER BY symbol, gap_start
    """


def scan_group(
    group: Group,
    rules: Sequence[Rule],
    held: pa.Table,
    *,
    root: str,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> GroupScan:
    """Run the group's rules, per-day row counts and grid gaps. `held`: the runs of held days per symbol
    (symbol, first_day, last_day) the grid is walked over. Raises duckdb.Error when a file cannot be read
    (the caller then finds which, file by file)."""
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET preserve_insertion_order = false")
        # The pass opens every footer; kept, they answer each file's row count without opening it again.
        connection.execute("SET parquet_metadata_cache = true")
        connection.register("held", held)
        # One read of the files answers every question (the scan's cost is reading and ordering the rows;
        # the aggregate it leaves is one row per partition, symbol and day).
        agg = connection.sql(_pass_sql(group, rules, first, last), params={"files": list(group.files)})
        agg_table = agg.to_arrow_table()
        connection.register("agg", agg_table)
        violations = connection.sql(_violations_sql(group, rules)).to_arrow_table()
        # The pass names a file by its index in `group.files` (file_index); its lake-relative path is joined in.
        prefix = root.rstrip("/") + "/"
        relative = [f[len(prefix) :] if f.startswith(prefix) else f for f in group.files]
        files = pa.table(
            {
                "file": pa.array(range(len(relative)), pa.int64()),
                "name": pa.array(group.files, pa.string()),
                "path": pa.array(relative, pa.string()),
            }
        )
        connection.register("files", files)
        day_rows = connection.sql(
            'SELECT f.path, a.symbol, a.day, a."rows" FROM agg a JOIN files f USING (file)'
        ).to_arrow_table()
        step = group.step_ms
        if step is None or not held.num_rows:
            gaps = pa.table(
                {
                    "symbol": pa.array([], pa.string()),
                    "gap_start": pa.array([], pa.timestamp("us", tz="UTC")),
                    "gap_end": pa.array([], pa.timestamp("us", tz="UTC")),
                    "bars": pa.array([], pa.int64()),
                }
            )
        else:
            gaps = connection.sql(f"WITH {_gaps_sql(step)}").to_arrow_table()
        file_rows = connection.sql(
            'SELECT f.path, m.num_rows::BIGINT AS "rows" FROM parquet_file_metadata($files) m '
            "JOIN files f ON f.name = m.file_name",
            params={"files": list(group.files)},
        ).to_arrow_table()
    finally:
        connection.close()
    return GroupScan(violations, day_rows, gaps, file_rows)
