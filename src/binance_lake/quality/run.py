"""A whole `check`: integrity, the rules over the Parquet, the gaps classified, freshness; recorded as one run.

The caller (facade/quality.py) hands in what the catalog knows (its files and the symbols' lives, read
through catalog/reads.py, which this package cannot import) and a `CheckRequest`; the lake's own tables are
read through their owners' typed reads (storage/), the Parquet through DuckDB (quality/scan.py), and the run
is written to the quality tables (quality/store.py) under the writer lock the caller holds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import split_list
from binance_lake.core.timerange import DateLike, parse_date
from binance_lake.core.vocabulary import Interval, Market, parse_market
from binance_lake.quality.gaps import RestProbe, bar_gaps, day_gaps, probed
from binance_lake.quality.integrity import (
    Finding,
    catalog_agreement,
    check_partitions,
    check_raw,
    findings_table,
    partition_of,
    readable,
    repair_of,
    stray_files,
)
from binance_lake.quality.rules import RULES, Rule, Severity, rule_named
from binance_lake.quality.scan import DAY_MS, Group, GroupScan, scan_group
from binance_lake.quality.store import FINDINGS_SCHEMA, GAPS_SCHEMA, carry_forward, save_run
from binance_lake.storage.database import LakeDatabase, writer_active
from binance_lake.storage.inventory import partition_table
from binance_lake.storage.provenance import held_runs_sql, provenance_table
from binance_lake.storage.schema import FileStatus
from binance_lake.storage.state_reads import file_table


@dataclass(frozen=True)
class CheckRequest:
    """What to check. Empty `datasets` / `symbols` and None `market`: everything the lake holds."""

    market: Market | None = None
    datasets: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    first: dt.date | None = None
    last: dt.date | None = None
    deep: bool = False
    full: bool = (
        False  # scan every series again, even those unchanged since the last check (`deep` implies it)
    )

    def text(self) -> dict[str, Any]:
        return {
            "market": self.market.value if self.market else None,
            "datasets": list(self.datasets),
            "symbols": list(self.symbols),
            "start": self.first,
            "end": self.last,
            "deep": self.deep,
            "full": self.full,
        }


def _day(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value
    return parse_date(value)


def build_check_request(
    *,
    market: str | None = None,
    datasets: str | Sequence[str] | None = None,
    symbols: Sequence[str] = (),
    start: DateLike | None = None,
    end: DateLike | None = None,
    deep: bool = False,
    full: bool = False,
) -> CheckRequest:
    """The request as the user gave it, validated once (symbols come expanded: `Settings.expand_symbols`)."""
    names = tuple(split_list(datasets)) if isinstance(datasets, str) else tuple(datasets or ())
    first = _day(start) if start is not None else None
    last = _day(end) if end is not None else None
    if first and last and first > last:
        raise UsageError(f"--start {first} is after --end {last}")
    return CheckRequest(
        parse_market(market) if market else None, names, tuple(symbols), first, last, deep, full
    )


@dataclass(frozen=True)
class CheckReport:
    run_id: str
    request: CheckRequest
    findings: pa.Table  # quality.store.FINDINGS_SCHEMA
    gaps: pa.Table  # quality.store.GAPS_SCHEMA
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)  # partitions, raw zips, files scanned, rows

    @property
    def ok(self) -> bool:
        """No error or warning (info findings are facts, not defects)."""
        return not any(s in ("error", "warning") for s in self.findings.column("severity").to_pylist())

    def summary(self) -> dict[str, Any]:
        severities = Counter(self.findings.column("severity").to_pylist())
        rules = Counter(self.findings.column("rule").to_pylist())
        kinds = Counter(self.gaps.column("kind").to_pylist())
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            **self.counts,
            "findings": dict(severities),
            "rules": dict(rules),
            "gaps": dict(kinds),
        }

    def line(self) -> str:
        """One sentence: findings and gaps by kind."""
        s = self.summary()
        found = ", ".join(f"{n} {k}" for k, n in sorted(s["findings"].items())) or "no findings"
        gaps = ", ".join(f"{n} {k}" for k, n in sorted(s["gaps"].items())) or "no gaps"
        return f"{found}; gaps: {gaps}"


@dataclass(frozen=True)
class CatalogFacts:
    """What the catalog says, read by the caller through catalog/reads.py."""

    upstream: pa.Table  # key, market, dataset, interval, symbol, cadence, first_day, last_day, etag, gone
    lives: pa.Table  # market, symbol, first_day, last_day, delisted
    listed: pa.Table  # prefix, market, cadence, dataset, symbol, interval, first_day, last_day


def _where(request: CheckRequest) -> tuple[str, dict[str, Any]]:
    parts: list[str] = ["true"]
    params: dict[str, Any] = {}
    if request.market is not None:
        parts.append("market = $market")
        params["market"] = request.market.value
    if request.datasets:
        parts.append("list_contains($datasets, dataset)")
        params["datasets"] = list(request.datasets)
    if request.symbols:
        parts.append("list_contains($symbols, symbol)")
        params["symbols"] = list(request.symbols)
    return " AND ".join(parts), params


def _filter(table: pa.Table, request: CheckRequest, first_col: str, last_col: str) -> pa.Table:
    """`table`'s rows of the request's series overlapping its days (DuckDB over Arrow)."""
    where, params = _where(request)
    if request.first is not None:
        where += f" AND {last_col} >= $first"
        params["first"] = request.first
    if request.last is not None:
        where += f" AND {first_col} <= $last"
        params["last"] = request.last
    connection = duckdb.connect()
    try:
        connection.register("x", table)
        result: pa.Table = connection.sql(f"SELECT * FROM x WHERE {where}", params=params).to_arrow_table()
    finally:
        connection.close()
    return result


def _with_bounds(partitions: pa.Table) -> pa.Table:
    """Partitions with each file's first and last day (a monthly partition spans its month)."""
    first, last = [], []
    for path in partitions.column("path").to_pylist():
        partition = partition_of(str(path))
        first.append(partition.first_day)
        last.append(partition.last_day)
    return partitions.append_column("first_day", pa.array(first, pa.date32())).append_column(
        "last_day", pa.array(last, pa.date32())
    )


def _scan_safely(
    group: Group, rules: Sequence[Rule], held: pa.Table, request: CheckRequest, root: str
) -> tuple[GroupScan | None, list[str], dict[str, tuple[int | None, str | None]]]:
    """Scan a group; when a file breaks the query, open its files' footers one by one (returned, with why
    one cannot be opened) and scan those that open; when that still fails, find the files with a page that
    cannot be read and scan the rest. Returns the scan (None when no file can be read), the files with a
    bad page, and the footers opened."""

    def scan(files: tuple[str, ...]) -> GroupScan:
        kept = Group(group.market, group.dataset, group.interval, files)
        return scan_group(kept, rules, held, root=root, first=request.first, last=request.last)

    try:
        return scan(group.files), [], {}
    except duckdb.Error as error:
        failure = error
        footers = {f: readable(Path(f), deep=False) for f in group.files}
    sound = tuple(f for f in group.files if footers[f][0] is not None)
    if not sound:
        return None, [], footers
    if len(sound) < len(group.files):
        try:
            return scan(sound), [], footers
        except duckdb.Error:
            pass
    bad = [f for f in sound if readable(Path(f), deep=True)[0] is None]
    if not bad:
        raise failure  # every file reads: not damage
    kept = tuple(f for f in sound if f not in bad)
    return (scan(kept) if kept else None), bad, footers


# Rows scanned at once: a group's symbols are scanned in chunks of about this many rows (whole symbols, so
# every window over a symbol's rows stays exact), which bounds the scan's memory whatever the lake's size.
CHUNK_ROWS = 2_000_000
SeriesGroup = tuple[str, str, str | None]


def _chunks(key: SeriesGroup, paths: list[str], sizes: dict[tuple[SeriesGroup, str], int]) -> list[list[str]]:
    by_symbol: dict[str, list[str]] = {}
    for path in paths:
        symbol = path.rsplit("/symbol=", 1)[1].split("/", 1)[0]
        by_symbol.setdefault(symbol, []).append(path)
    chunks: list[list[str]] = [[]]
    rows = 0
    for symbol in sorted(by_symbol):
        n = sizes.get((key, symbol), 0)
        if chunks[-1] and rows + n > CHUNK_ROWS:
            chunks.append([])
            rows = 0
        chunks[-1].extend(by_symbol[symbol])
        rows += n
    return [c for c in chunks if c]


def _tag(table: pa.Table, group: Group) -> pa.Table:
    n = table.num_rows
    return (
        table.append_column("market", pa.array([group.market.value] * n, pa.string()))
        .append_column("dataset", pa.array([group.dataset] * n, pa.string()))
        .append_column(
            "interval", pa.array([group.interval.value if group.interval else None] * n, pa.string())
        )
    )


_DAY_CHECKS = """
    WITH counted AS (
        SELECT p.market, p.dataset, p."interval", p.symbol, p.path, p.day, p."rows" AS recorded,
               coalesce(c."rows", 0) AS actual, p.step
        FROM prov p LEFT JOIN counts c USING (path, day)
    ), expected AS (
        SELECT *, CASE WHEN step IS NOT NULL THEN {day_ms} / step
                       ELSE median(actual) FILTER (actual > 0) OVER (PARTITION BY market, dataset, "interval", symbol)
                  END AS expect
        FROM counted
    )
    SELECT e.*, l.first_day AS life_first, l.last_day AS life_last FROM expected e
    LEFT JOIN lives l USING (market, symbol)
    WHERE (recorded IS NOT NULL AND recorded <> actual)
       OR (expect > 0 AND actual < $low * expect
           AND e.day IS DISTINCT FROM l.first_day AND e.day IS DISTINCT FROM l.last_day)
    ORDER BY market, dataset, "interval", symbol, day
"""


def _day_findings(prov: pa.Table, counts: pa.Table, lives: pa.Table, low: float) -> list[Finding]:
    """Days whose Parquet rows differ from day_provenance (integrity), and days far below their expectation
    (`day_rows_low`: a truncated upstream file whose checksum matched)."""
    connection = duckdb.connect()
    try:
        for name, table in (("prov", prov), ("counts", counts), ("lives", lives)):
            connection.register(name, table)
        rows = (
            connection.sql(_DAY_CHECKS.format(day_ms=DAY_MS), params={"low": low})
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        connection.close()
    findings = []
    for r in rows:
        series = {k: r[k] for k in ("market", "dataset", "interval", "symbol")}
        repair = repair_of(partition_of(r["path"]))
        if r["recorded"] is not None and r["recorded"] != r["actual"]:
            findings.append(
                Finding(
                    "integrity", "provenance_day_rows", Severity.ERROR,
                    f"{r['path']} holds {r['actual']} rows on {r['day']}, day_provenance says {r['recorded']}",
                    **series, day=r["day"], ref=r["path"], value=float(r["actual"]), repair=repair,
                )
            )  # fmt: skip
        elif r["expect"] and r["actual"] < low * r["expect"]:
            findings.append(
                Finding(
                    "rule", "day_rows_low", Severity.WARNING,
                    f"{r['day']} holds {r['actual']} rows, expected about {r['expect']:.0f}: its upstream file "
                    "is truncated (its checksum matched the truncated bytes)",
                    **series, day=r["day"], ref=r["path"], value=float(r["actual"]), threshold=low,
                    repair="report it upstream; `binance-lake sync` fetches a re-upload",
                )
            )  # fmt: skip
    return findings


def _violations(scan: GroupScan, group: Group, rules: Sequence[Rule]) -> list[Finding]:
    found = []
    for r in scan.violations.to_pylist():
        rule = rule_named(tuple(rules), r["rule"])
        value = r["value"]
        detail = f" (worst {value:.4g})" if value is not None else ""
        found.append(
            Finding(
                "rule", rule.name, rule.severity, f"{r['n']} row(s) on {r['day']}: {rule.description}{detail}",
                market=group.market.value, dataset=group.dataset,
                interval=group.interval.value if group.interval else None, symbol=r["symbol"], day=r["day"],
                value=value, threshold=rule.threshold,
            )
        )  # fmt: skip
    return found


def _mark_divergence(
    scoped: pa.Table, root: str, rule: Rule, request: CheckRequest, only: set[tuple[str, str | None, str]]
) -> list[Finding]:
    """Bars whose mark-price close strays from the last-price close (one join in DuckDB per interval of the
    series that hold both), for the mark-price series `only` (market, interval, symbol)."""
    by_series: dict[tuple[str, str], dict[str, list[str]]] = {}
    for path in map(str, scoped.column("path").to_pylist()):
        p = partition_of(path)
        if (
            p.dataset in ("klines", "markPriceKlines")
            and p.interval is not None
            and (p.market.value, p.interval.value, p.symbol) in only
        ):
            by_series.setdefault((p.market.value, p.interval.value), {}).setdefault(p.dataset, []).append(
                f"{root}/{path}"
            )
    found: list[Finding] = []
    for (market, interval), files in sorted(by_series.items()):
        if len(files) < 2:
            continue
        bounds = ""
        if request.first is not None:
            bounds += f" AND k.open_time >= TIMESTAMPTZ '{request.first.isoformat()} 00:00:00+00'"
        if request.last is not None:
            bounds += (
                f" AND k.open_time < TIMESTAMPTZ '{request.last.isoformat()} 00:00:00+00' + INTERVAL 1 DAY"
            )
        connection = duckdb.connect()
        try:
            rows = connection.execute(
                f"""
                SELECT k.symbol, (DATE '1970-01-01' + (epoch_ms(k.open_time) // {DAY_MS})::INTEGER) AS day,
                       count(*) AS n, max(abs(m.close / k.close - 1)) AS value
                FROM read_parquet($k, hive_partitioning = true) k
                JOIN read_parquet($m, hive_partitioning = true) m USING (symbol, open_time)
                WHERE k.close > 0 AND abs(m.close / k.close - 1) > $threshold {bounds}
                GROUP BY ALL ORDER BY ALL
                """,
                {"k": files["klines"], "m": files["markPriceKlines"], "threshold": rule.threshold},
            ).fetchall()
        finally:
            connection.close()
        found += [
            Finding(
                "rule", rule.name, rule.severity,
                f"{n} bar(s) on {day}: {rule.description} (worst {value:.4g})",
                market=market, dataset="markPriceKlines", interval=interval, symbol=symbol, day=day,
                value=float(value), threshold=rule.threshold,
            )
            for symbol, day, n, value in rows
        ]  # fmt: skip
    return found


def _freshness(prov: pa.Table, rule: Rule, now: dt.datetime) -> list[Finding]:
    if not prov.num_rows:
        return []
    connection = duckdb.connect()
    try:
        connection.register("prov", prov)
        rows = connection.execute(
            'SELECT market, dataset, "interval", symbol, max(day) FROM prov GROUP BY ALL ORDER BY ALL'
        ).fetchall()
    finally:
        connection.close()
    today = now.astimezone(dt.UTC).date()
    found = []
    for market, dataset, interval, symbol, newest in rows:
        age = (today - newest).days
        if age > rule.threshold:
            found.append(
                Finding(
                    "rule", "freshness", rule.severity, f"newest day {newest} is {age} days old",
                    market=market, dataset=dataset, interval=interval, symbol=symbol, day=newest,
                    value=float(age), threshold=rule.threshold,
                )
            )  # fmt: skip
    return found


def _held_runs(prov: pa.Table, group: Group, symbols: set[str]) -> pa.Table:
    """The runs of held days of `group`'s `symbols` (those of the chunk scanned)."""
    connection = duckdb.connect()
    try:
        connection.register("prov", prov)
        where = 'market = $m AND dataset = $d AND "interval" IS NOT DISTINCT FROM $i AND list_contains($s, symbol)'
        runs: pa.Table = connection.sql(
            f"SELECT symbol, first_day, last_day FROM ({held_runs_sql('prov', where)})",
            params={
                "m": group.market.value,
                "d": group.dataset,
                "i": group.interval.value if group.interval else None,
                "s": sorted(symbols),
            },
        ).to_arrow_table()
    finally:
        connection.close()
    return runs


def _delisting(prov: pa.Table, lives: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A delisted symbol's life ends on its last day with rows in the lake when that is earlier than the
    catalog's (whose last day is a monthly file's month end); the empty days after it, which that monthly
    file covers, are not held data but days after the delisting."""
    connection = duckdb.connect()
    try:
        connection.register("prov", prov)
        connection.register("lives", lives)
        adjusted: pa.Table = connection.sql(
            """
            SELECT l.market, l.symbol, l.first_day,
                   CASE WHEN l.delisted THEN least(l.last_day, coalesce(t.last_rows, l.last_day)) ELSE l.last_day END
                       AS last_day,
                   l.delisted
            FROM lives l LEFT JOIN (
                SELECT market, symbol, max(day) FILTER ("rows" IS NULL OR "rows" > 0) AS last_rows
                FROM prov GROUP BY ALL
            ) t USING (market, symbol)
            """
        ).to_arrow_table()
        connection.register("adjusted", adjusted)
        kept: pa.Table = connection.sql(
            """
            SELECT p.* FROM prov p LEFT JOIN adjusted a USING (market, symbol)
            WHERE NOT (coalesce(a.delisted, false) AND p."rows" = 0 AND p.day > a.last_day)
            """
        ).to_arrow_table()
    finally:
        connection.close()
    return kept.select(prov.schema.names), adjusted


# Findings a series' own partitions answer (integrity of its files, the per-row rules, its days' rows): the
# ones an incremental check carries forward for a series whose fingerprint did not change.
SERIES_RULES: tuple[str, ...] = (
    "partition_gone", "partition_damaged", "partition_rows", "provenance_rows", "provenance_day_rows",
    "day_rows_low", "mark_divergence",
    *(r.name for r in RULES if r.when),
)  # fmt: skip
# Bump when what a scan answers changes, so no run of an older version is carried forward.
SCAN_VERSION = 2
SeriesKey4 = tuple[str, str, str | None, str]


def _key(market: object, dataset: object, interval: object, symbol: object) -> SeriesKey4:
    return (str(market), str(dataset), None if interval is None else str(interval), str(symbol))


def _keys(table: pa.Table) -> list[SeriesKey4]:
    columns = [table.column(c).to_pylist() for c in ("market", "dataset", "interval", "symbol")]
    return [_key(*row) for row in zip(*columns, strict=True)]


def _fingerprints(scoped: pa.Table, prov: pa.Table, lives: pa.Table, salt: str) -> pa.Table:
    """Per series of `scoped`: a fingerprint of what its check reads — its partitions as recorded (path,
    rows, size, mtime), its days' recorded rows, its symbol's life, the request's bounds and the rules'
    thresholds (`salt`). A mark-price series also takes its last-price partner's (the divergence rule reads
    both)."""
    connection = duckdb.connect()
    try:
        for name, table in (("scoped", scoped), ("prov", prov), ("lives", lives)):
            connection.register(name, table)
        result: pa.Table = connection.sql(
            """
            WITH parts AS (
                SELECT market, dataset, "interval", symbol,
                       string_agg(concat_ws(':', path, "rows", size, mtime_ns), ',' ORDER BY path) AS p
                FROM scoped GROUP BY ALL
            ), held AS (
                SELECT market, dataset, "interval", symbol,
                       string_agg(concat_ws(':', path, day, coalesce("rows", -1)), ',' ORDER BY day, path) AS d
                FROM prov GROUP BY ALL
            ), own AS (
                SELECT p.market, p.dataset, p."interval", p.symbol,
                       md5(concat_ws('|', $salt, p.p, coalesce(h.d, ''), coalesce(l.first_day::VARCHAR, ''),
                                     coalesce(l.last_day::VARCHAR, ''))) AS fp
                FROM parts p
                LEFT JOIN held h ON h.market = p.market AND h.dataset = p.dataset AND h.symbol = p.symbol
                     AND h."interval" IS NOT DISTINCT FROM p."interval"
                LEFT JOIN lives l ON l.market = p.market AND l.symbol = p.symbol
            )
            SELECT o.market, o.dataset, o."interval", o.symbol,
                   CASE WHEN o.dataset = 'markPriceKlines' THEN md5(o.fp || coalesce(k.fp, '')) ELSE o.fp END
                       AS fingerprint
            FROM own o LEFT JOIN own k ON o.dataset = 'markPriceKlines' AND k.dataset = 'klines'
                 AND k.market = o.market AND k."interval" = o."interval" AND k.symbol = o.symbol
            """,
            params={"salt": salt},
        ).to_arrow_table()
    finally:
        connection.close()
    return result


def _salt(request: CheckRequest, rules: Sequence[Rule]) -> str:
    thresholds = ",".join(f"{r.name}={r.threshold!r}" for r in rules)
    return f"v{SCAN_VERSION}|{request.first}|{request.last}|{thresholds}"


def _stat_changed(root: Path, partitions: pa.Table) -> set[str]:
    """Paths whose file is gone or whose size or mtime differs from the record (the inventory's cheap check)."""
    changed = set()
    for path, size, mtime in zip(
        map(str, partitions.column("path").to_pylist()),
        partitions.column("size").to_pylist(),
        partitions.column("mtime_ns").to_pylist(),
        strict=True,
    ):
        try:
            st = (root / path).stat()
        except OSError:
            changed.add(path)
            continue
        if st.st_size != size or st.st_mtime_ns != mtime:
            changed.add(path)
    return changed


def _moved(before: pa.Table, after: pa.Table) -> set[str]:
    """Partitions a writer replaced, added or removed between two reads of the records."""

    def state(table: pa.Table) -> set[tuple[object, ...]]:
        return set(
            zip(*(table.column(c).to_pylist() for c in ("path", "rows", "size", "mtime_ns")), strict=True)
        )

    return {str(row[0]) for row in state(before) ^ state(after)}


@dataclass(frozen=True)
class Carried:
    """What an incremental check takes from earlier runs: per series the run (`runs`) and its start
    (`hashed_at`, epoch seconds), their findings (`raw`: the raw zips' hash findings, kept only for zips not
    hashed again), and their grid gaps."""

    runs: dict[SeriesKey4, str]
    hashed_at: dict[SeriesKey4, float]
    findings: pa.Table
    raw: pa.Table
    gaps: pa.Table

    @staticmethod
    def none() -> Carried:
        empty = FINDINGS_SCHEMA.empty_table()
        return Carried({}, {}, empty, empty, GAPS_SCHEMA.empty_table())

    def with_raw(self, trusted: set[str]) -> pa.Table:
        """The carried findings, with the hash findings of the zips in `trusted` (not hashed again)."""
        kept = [ref in trusted for ref in self.raw.column("ref").to_pylist()]
        return pa.concat_tables([self.findings, self.raw.filter(pa.array(kept, pa.bool_()))])


def _carry(database: LakeDatabase, fingerprints: pa.Table, scoped: pa.Table) -> Carried:
    with database.connect(read_only=True) as connection:
        series, findings, gaps = carry_forward(connection, fingerprints, (*SERIES_RULES, "raw_hash"))
    stale = {_key(*partition_key(p)) for p in _stat_changed(database.root, scoped)}
    keys = _keys(series)
    runs: dict[SeriesKey4, str] = {}
    hashed_at: dict[SeriesKey4, float] = {}
    for key, run, at in zip(
        keys, series.column("run_id").to_pylist(), series.column("started_at").to_pylist(), strict=True
    ):
        if key not in stale and isinstance(at, dt.datetime):
            runs[key], hashed_at[key] = str(run), at.timestamp()
    if not runs:
        return Carried.none()
    findings = findings.filter(pa.array([k in runs for k in _keys(findings)], pa.bool_()))
    is_raw = pc.equal(findings.column("rule"), pa.scalar("raw_hash"))
    gaps = gaps.filter(pa.array([k in runs for k in _keys(gaps)], pa.bool_()))
    return Carried(runs, hashed_at, findings.filter(pc.invert(is_raw)), findings.filter(is_raw), gaps)


@dataclass
class _Scanned:
    """What the scans of a check answered: their findings (damaged pages, rule violations), each group's grid
    step, the files with a page that cannot be read, the rows per (partition, day), the grid-gap candidates,
    the footers opened (path: rows, or None and why) and how many files were read."""

    findings: list[Finding] = field(default_factory=list)
    steps: dict[SeriesGroup, int | None] = field(default_factory=dict)
    damaged: set[str] = field(default_factory=set)
    counts: list[pa.Table] = field(default_factory=list)
    grid: list[pa.Table] = field(default_factory=list)
    opened: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    files: int = 0


def _scan_chunks(
    root: Path,
    rescan: pa.Table,
    broken: set[str],
    rules: Sequence[Rule],
    prov: pa.Table,
    request: CheckRequest,
    stop: threading.Event,
) -> _Scanned:
    """Rules, day counts and grid gaps of the partitions in `rescan` (but `broken`), one pass per chunk of a
    series group; none after `stop` is set (the check failed or was interrupted meanwhile)."""
    done = _Scanned()
    groups: dict[SeriesGroup, list[str]] = {}
    sizes: dict[tuple[SeriesGroup, str], int] = {}
    for path, rows in zip(
        map(str, rescan.column("path").to_pylist()), rescan.column("rows").to_pylist(), strict=True
    ):
        if path in broken:
            continue
        p = partition_of(path)
        key = (p.market.value, p.dataset, p.interval.value if p.interval else None)
        groups.setdefault(key, []).append(str(root / path))
        sizes[(key, p.symbol)] = sizes.get((key, p.symbol), 0) + int(rows or 0)
    chunks = [
        (key, chunk)
        for key, paths in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
        for chunk in _chunks(key, paths, sizes)
    ]
    prefix = len(str(root)) + 1
    for (market, dataset, interval), paths in chunks:
        if stop.is_set():
            break
        group = Group(Market(market), dataset, Interval(interval) if interval else None, tuple(sorted(paths)))
        done.steps[(market, dataset, interval)] = group.step_ms
        chunk_symbols = {path.rsplit("/symbol=", 1)[1].split("/", 1)[0] for path in paths}
        held = _held_runs(prov, group, chunk_symbols)
        scan, bad, footers = _scan_safely(group, rules, held, request, str(root))
        done.opened.update((f[prefix:], result) for f, result in footers.items())
        for path in bad:
            relative = str(path)[prefix:]
            done.damaged.add(relative)
            partition = partition_of(relative)
            done.findings.append(
                Finding("integrity", "partition_damaged", Severity.ERROR, f"{relative} is damaged (a page cannot be read)",
                        market=market, dataset=dataset, interval=interval, symbol=partition.symbol, ref=relative,
                        repair=repair_of(partition))
            )  # fmt: skip
        if scan is None:
            continue
        file_rows = zip(
            scan.file_rows.column("path").to_pylist(), scan.file_rows.column("rows").to_pylist(), strict=True
        )
        done.opened.update((str(path), (int(rows or 0), None)) for path, rows in file_rows)
        done.files += (
            len(group.files) - len(bad) - sum(footers.get(f, (0, None))[0] is None for f in group.files)
        )
        done.findings += _violations(scan, group, rules)
        done.counts.append(scan.day_rows.select(["path", "day", "rows"]))
        done.grid.append(_tag(scan.bar_gaps, group))
    return done


def _rescanned_days(prov: pa.Table, rescan: pa.Table, steps: dict[SeriesGroup, int | None]) -> pa.Table:
    """The day rows of the series scanned again, each with its group's grid step (a join in DuckDB)."""
    grid = pa.table(
        {
            "market": pa.array([k[0] for k in steps], pa.string()),
            "dataset": pa.array([k[1] for k in steps], pa.string()),
            "interval": pa.array([k[2] for k in steps], pa.string()),
            "step": pa.array(list(steps.values()), pa.int64()),
        }
    )
    same = 'x.market = p.market AND x.dataset = p.dataset AND x."interval" IS NOT DISTINCT FROM p."interval"'
    connection = duckdb.connect()
    try:
        for name, table in (("prov", prov), ("rescan", rescan), ("grid", grid)):
            connection.register(name, table)
        result: pa.Table = connection.sql(
            f"""
            SELECT p.*, x.step FROM prov p
            LEFT JOIN grid x ON {same}
            WHERE EXISTS (SELECT 1 FROM rescan x WHERE {same} AND x.symbol = p.symbol)
            """
        ).to_arrow_table()
    finally:
        connection.close()
    return result


def run_check(
    database: LakeDatabase,
    request: CheckRequest,
    rules: Sequence[Rule],
    catalog: CatalogFacts,
    *,
    now: dt.datetime | None = None,
    probe: RestProbe | None = None,
) -> CheckReport:
    """Check the lake for `request` (see the module docstring) and record the run.

    Lock-free: it reads through short read-only connections and the Parquet files, never holding the writer
    lock, so a sync may run beside it; it records its run through one short read-write connection (the quality
    tables have no other writer). Partitions a writer replaced while it read are left out of what it carries
    forward next time, and their integrity findings (a race, not damage) are dropped."""
    began, started = time.monotonic(), dt.datetime.now(dt.UTC)
    now = now or started
    root = database.root
    with database.connect(read_only=True) as connection:
        partitions = partition_table(connection)
        files = file_table(connection)
        where, params = _where(request)
        prov = provenance_table(connection, where=where, params=params)
    # A partition's rows are the sum over all its days, also those outside the asked days.
    sums = _provenance_sums(prov)
    if request.first is not None or request.last is not None:
        prov = _filter(prov.append_column("first_day", prov.column("day")).append_column("last_day", prov.column("day")),
                       request, "first_day", "last_day").drop_columns(["first_day", "last_day"])  # fmt: skip
    prov, lives = _delisting(prov, catalog.lives)
    catalog = CatalogFacts(catalog.upstream, lives, catalog.listed)
    scoped = _filter(_with_bounds(partitions), request, "first_day", "last_day")
    scoped_files = _filter(files, request, "first_day", "last_day")
    ingested = scoped_files.filter(
        pc.equal(scoped_files.column("status"), pa.scalar(FileStatus.INGESTED.value))
    )
    findings: list[Finding] = []
    writing = writer_active(root)

    # What changed since the last check: series whose fingerprint an earlier run answered, and whose files
    # still have their recorded size and mtime, are carried forward from that run.
    carried, fingerprints = Carried.none(), None
    if not (request.full or request.deep):
        fingerprints = _fingerprints(scoped, prov, lives, _salt(request, rules))
        carried = _carry(database, fingerprints, scoped)
    carried_from = carried.runs
    fresh = pa.array([k not in carried_from for k in _keys(scoped)], pa.bool_())
    rescan = scoped.filter(fresh)
    rescanned = set(_keys(rescan))

    # Integrity of the partitions. With `deep` every page of every file is read first, and what cannot be
    # read is left out of the scan. Otherwise the scan is the one open of each file: its footers give the rows
    # `check_partitions` compares (below), and only the files of a chunk whose scan fails are opened one by one.
    partition_found: list[Finding] = []
    if request.deep:
        partition_found, broken = check_partitions(root, rescan, sums, deep=True)
    else:
        broken = {p for p in map(str, rescan.column("path").to_pylist()) if not (root / p).exists()}

    def hashed_since(row: dict[str, Any]) -> float | None:
        return carried.hashed_at.get(_key(row["market"], row["dataset"], row["interval"], row["symbol"]))

    # The scans run in a thread beside the integrity work that is Python's (hashing, walking `tables/`):
    # DuckDB releases the GIL while it reads, so both cores work.
    stop = threading.Event()  # set when the check ends early: the scans stop after their current chunk
    with ThreadPoolExecutor(1) as pool:
        scanning = pool.submit(_scan_chunks, root, rescan, broken, rules, prov, request, stop)
        try:
            if fingerprints is None:  # a full check records them for the next one
                fingerprints = _fingerprints(scoped, prov, lives, _salt(request, rules))
            raw_found, raw_checked, raw_trusted = check_raw(
                root, ingested, deep=request.deep, hashed_since=hashed_since
            )
            findings += raw_found
            recorded = {str(p) for p in partitions.column("path").to_pylist()}
            findings += stray_files(root, recorded, only=request.datasets or None, writing=writing)
            findings += catalog_agreement(ingested, catalog.upstream)
            stale = (
                _freshness(prov, rule_named(tuple(rules), "freshness"), now) if request.last is None else []
            )
            held_days = prov.select(["market", "dataset", "interval", "symbol", "day"])
            days = day_gaps(held_days, catalog.upstream, catalog.lives, scoped_files, catalog.listed, first=request.first, last=request.last,
                            today=now.astimezone(dt.UTC).date())  # fmt: skip
            scanned = scanning.result()
        finally:
            stop.set()
    carried_findings = carried.with_raw(raw_trusted)
    findings += scanned.findings
    steps, damaged_now, counts, grid = scanned.steps, scanned.damaged, scanned.counts, scanned.grid
    low = rule_named(tuple(rules), "day_rows_low").threshold
    if not request.deep:
        # Every file the scan opened is answered from its footer; one it did not (gone, or not a Parquet
        # file) is opened here, which names why.
        partition_found, broken = check_partitions(root, rescan, sums, deep=False, opened=scanned.opened)
    findings = partition_found + findings

    prov_steps = _rescanned_days(prov, rescan, steps)
    all_counts = (
        pa.concat_tables(counts)
        if counts
        else pa.table(
            {
                "path": pa.array([], pa.string()),
                "day": pa.array([], pa.date32()),
                "rows": pa.array([], pa.int64()),
            }
        )
    )
    unreadable = pa.array(sorted(broken | damaged_now), pa.string())
    readable_days = prov_steps.filter(pc.invert(pc.is_in(prov_steps.column("path"), value_set=unreadable)))
    findings += _day_findings(readable_days, all_counts, catalog.lives, low)
    marks = {(m, i, s) for m, d, i, s in rescanned if d == "markPriceKlines"}
    findings += _mark_divergence(
        scoped, str(root), rule_named(tuple(rules), "mark_divergence"), request, marks
    )
    findings += stale

    # What a writer changed while the check read: not carried next time, and no integrity finding (a race).
    with database.connect(read_only=True) as connection:
        moved = _moved(partitions, partition_table(connection))
    moved_series = {_key(*partition_key(p)) for p in moved}
    if moved:
        findings = [f for f in findings if not (f.kind == "integrity" and f.ref in moved)]

    # Gaps.
    old_grid = carried.gaps.select(
        ["market", "dataset", "interval", "symbol", "start_time", "end_time", "bars"]
    )
    old_grid = old_grid.rename_columns(
        ["market", "dataset", "interval", "symbol", "gap_start", "gap_end", "bars"]
    )
    bars = _bar_gaps([*grid, old_grid], prov)
    gaps = pa.concat_tables([days, bars]).cast(GAPS_SCHEMA)
    if probe is not None and gaps.num_rows:
        gaps = probed(gaps, probe)

    table = pa.concat_tables([findings_table(findings), carried_findings])
    series = fingerprints.append_column(
        "carried_from", pa.array([carried_from.get(k) for k in _keys(fingerprints)], pa.string())
    ).filter(pa.array([k not in moved_series for k in _keys(fingerprints)], pa.bool_()))
    report = CheckReport(
        uuid.uuid4().hex,
        request,
        table,
        gaps,
        time.monotonic() - began,
        {
            "partitions": scoped.num_rows,
            "raw_zips": raw_checked,
            "raw_zips_unchanged": len(raw_trusted),
            "files_scanned": scanned.files,
            "series_carried": len(carried_from),
            "series_scanned": len(rescanned),
            "changed_during_check": len(moved),
            "rules": len([r for r in rules]),
        },
    )
    with database.connect() as connection:
        save_run(
            connection,
            report.run_id,
            started=started,
            finished=dt.datetime.now(dt.UTC),
            request=request.text(),
            summary=report.summary(),
            findings=table,
            gaps=gaps,
            series=series,
        )
    return report


def partition_key(path: str) -> tuple[str, str, str | None, str]:
    p = partition_of(path)
    return (p.market.value, p.dataset, p.interval.value if p.interval else None, p.symbol)


def _provenance_sums(prov: pa.Table) -> dict[str, int | None]:
    """Rows day_provenance gives each partition (None when a day's split was never recorded)."""
    sums: dict[str, int | None] = {}
    for path, rows in zip(
        map(str, prov.column("path").to_pylist()), prov.column("rows").to_pylist(), strict=True
    ):
        if rows is None or (path in sums and sums[path] is None):
            sums[path] = None
        else:
            sums[path] = (sums.get(path) or 0) + rows
    return sums


def _bar_gaps(grid: list[pa.Table], prov: pa.Table) -> pa.Table:
    if not grid:
        return GAPS_SCHEMA.empty_table()
    names = ["market", "dataset", "interval", "symbol", "gap_start", "gap_end", "bars"]
    schema = pa.schema([(n, pa.string()) for n in names[:4]] + [
        ("gap_start", pa.timestamp("us", tz="UTC")), ("gap_end", pa.timestamp("us", tz="UTC")), ("bars", pa.int64())
    ])  # fmt: skip
    candidates = pa.concat_tables([t.select(names).cast(schema) for t in grid])
    connection = duckdb.connect()
    try:
        connection.register("prov", prov)
        trading: pa.Table = connection.sql(
            'SELECT market, dataset, "interval", day, count(DISTINCT symbol) AS symbols FROM prov '
            'WHERE "rows" IS NULL OR "rows" > 0 GROUP BY ALL'
        ).to_arrow_table()
    finally:
        connection.close()
    return bar_gaps(candidates, trading)
