"""Integrity: the lake proves it holds what it recorded.

- every kept raw zip re-hashed against the SHA-256 recorded when it was ingested (which was verified
  against upstream's `.CHECKSUM`, `file_state.checksum`); with `deep`, its CSV parsed again and looked at
  for what ingest silently repaired: repeated rows and rows out of order (`raw_duplicates`, `raw_unordered`);
- every recorded partition opens (its footer; with `deep`, every page) with its recorded rows;
- nothing under `tables/` that the lake did not write: temporary files, unrecorded Parquet, anything else;
- the catalog and the lake agree: an ingested file is still listed upstream, with the ETag it was ingested
  with (or a recorded revision, which `sync` fetches again).
Each failure is a `Finding` naming the file and the command that repairs it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.binance.csv_parse import parse_file
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import BinanceLakeError
from binance_lake.core.partitions import TABLES_DIR, Partition, parse_partition_path
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.quality.rules import Severity
from binance_lake.quality.store import FINDINGS_SCHEMA
from binance_lake.storage.inventory import repair_command

RAW_DIR = "raw"
# What storage.parquet and ingest leave while writing (engine.sync removes them under the writer lock).
_TEMPORARY = re.compile(r"^\..+\.(tmp|duckdb)(\.wal)?$|^\.ingest-")


@dataclass(frozen=True)
class Finding:
    kind: str  # "integrity" or "rule"
    rule: str
    severity: Severity
    message: str
    market: str | None = None
    dataset: str | None = None
    interval: str | None = None
    symbol: str | None = None
    day: object = None  # dt.date
    ref: str | None = None
    value: float | None = None
    threshold: float | None = None
    repair: str | None = None


@functools.lru_cache(maxsize=1 << 16)
def partition_of(path: str) -> Partition:
    """The partition of a lake-relative path (cached: a check asks several times for each of thousands)."""
    return parse_partition_path(path)


def findings_table(findings: Iterable[Finding]) -> pa.Table:
    rows = [{**asdict(f), "severity": f.severity.value} for f in findings]
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def repair_of(partition: Partition) -> str:
    return repair_command(partition) + " --repair"


def _series(partition: Partition) -> dict[str, str | None]:
    return {
        "market": partition.market.value,
        "dataset": partition.dataset,
        "interval": partition.interval.value if partition.interval else None,
        "symbol": partition.symbol,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def archive_file(row: dict[str, object]) -> ArchiveFile:
    """The ArchiveFile of a `file_state` row."""
    interval = row["interval"]
    return ArchiveFile(
        Market(str(row["market"])),
        Cadence(str(row["cadence"])),
        str(row["dataset"]),
        str(row["symbol"]),
        Interval(str(interval)) if interval else None,
        row["period"],  # type: ignore[arg-type]
    )


def _sync_of(file: ArchiveFile) -> str:
    interval = f" --intervals {file.interval.value}" if file.interval else ""
    return (
        f"binance-lake sync --market {file.market.value} --datasets {file.dataset}{interval} "
        f"--symbols {file.symbol} --start {file.first_day} --end {file.last_day}"
    )


def check_raw(
    root: Path,
    files: pa.Table,
    *,
    deep: bool,
    hashed_since: Callable[[dict[str, Any]], float | None] | None = None,
) -> tuple[list[Finding], int, set[str]]:
    """Re-hash every kept raw zip of the ingested `files` (file_state rows); returns findings, how many zips
    were checked, and the keys of those left alone: `hashed_since(row)` gives the time (epoch seconds) an
    earlier check hashed the zip's series, and a zip of its recorded size not modified since is not hashed
    again (None: hash it)."""
    findings: list[Finding] = []
    checked = 0
    trusted: set[str] = set()
    for row in files.to_pylist():
        path = root / RAW_DIR / str(row["key"])
        try:
            stat = path.stat()
        except OSError:
            continue  # not kept (--no-keep-raw): nothing to re-hash
        if not row["sha256"] or not path.is_file():
            continue
        since = hashed_since(row) if hashed_since is not None and not deep else None
        if since is not None and stat.st_mtime < since and stat.st_size == row["size"]:
            trusted.add(str(row["key"]))
            continue
        checked += 1
        file = archive_file(row)
        series = {k: row[k] for k in ("market", "dataset", "interval", "symbol")}
        if _sha256(path) != row["sha256"]:
            findings.append(
                Finding(
                    "integrity", "raw_hash", Severity.ERROR,
                    f"{row['key']}: the kept zip no longer has the SHA-256 it was ingested with",
                    **series, ref=str(row["key"]),
                    repair=f"delete {RAW_DIR}/{row['key']}; `{_sync_of(file)}` downloads it again when it needs it",
                )
            )  # fmt: skip
            continue
        if deep:
            findings.extend(_raw_rows(path, file, series, str(row["key"])))
    return findings, checked, trusted


def _raw_rows(path: Path, file: ArchiveFile, series: dict[str, object], key: str) -> Iterator[Finding]:
    """What ingest repaired silently in one upstream file: repeated rows, rows out of order (DuckDB over the
    parsed Arrow table)."""
    try:
        table = parse_file(path, file)
    except BinanceLakeError as error:
        yield Finding("integrity", "raw_parse", Severity.ERROR, f"{key}: {error}", **series, ref=key)  # type: ignore[arg-type]
        return
    spec = file.spec
    key_columns = ", ".join(f'"{c}"' for c in spec.unique_key) or "*"
    connection = duckdb.connect()
    try:
        connection.register("f", table)
        duplicates, unordered, rows = connection.execute(
            f"""
            SELECT (SELECT count(*) - count(DISTINCT ({key_columns})) FROM f),
                   (SELECT count(*) FROM (SELECT "{spec.time_column}" AS ts,
                        lag("{spec.time_column}") OVER (ORDER BY rowid_) AS prev
                        FROM (SELECT *, row_number() OVER () AS rowid_ FROM f)) WHERE ts < prev),
                   (SELECT count(*) FROM f)
            """
        ).fetchall()[0]
    finally:
        connection.close()
    # liquidationSnapshot repeats every row by design (#259, #337): not this file's defect.
    if duplicates and file.dataset != "liquidationSnapshot":
        yield Finding(
            "rule", "raw_duplicates", Severity.WARNING,
            f"{key}: {duplicates} of {rows} rows repeat an earlier row's key (the lake keeps one of each)",
            **series, ref=key, value=float(duplicates), threshold=0.0,  # type: ignore[arg-type]
        )  # fmt: skip
    if unordered:
        yield Finding(
            "rule", "raw_unordered", Severity.WARNING,
            f"{key}: {unordered} rows come before the row above them (the lake stores them sorted)",
            **series, ref=key, value=float(unordered), threshold=0.0,  # type: ignore[arg-type]
        )  # fmt: skip


def readable(path: Path, *, deep: bool) -> tuple[int | None, str | None]:
    """(rows, None) when the file opens — its footer, or with `deep` every page — else (None, why)."""
    try:
        if deep:
            return pq.read_table(path, page_checksum_verification=True).num_rows, None
        with pq.ParquetFile(path) as parquet:
            return int(parquet.metadata.num_rows), None
    except (OSError, pa.ArrowException) as error:
        return None, str(error).splitlines()[0] if str(error) else type(error).__name__


def check_partitions(
    root: Path,
    partitions: pa.Table,
    provenance_rows: dict[str, int | None],
    *,
    deep: bool,
    opened: Mapping[str, tuple[int | None, str | None]] | None = None,
) -> tuple[list[Finding], set[str]]:
    """Each recorded partition (rows of storage.inventory.partition_table) opens with its recorded rows, which
    are the rows day_provenance gives its days. `opened`: what `readable` would answer for files already
    opened (by the scan), keyed by path; the others are opened here. Returns the findings and the paths that
    cannot be read."""
    findings: list[Finding] = []
    broken: set[str] = set()
    known = opened or {}
    for row in partitions.to_pylist():
        path = str(row["path"])
        rows, why = known[path] if path in known else readable(root / path, deep=deep)
        if rows is None or rows != row["rows"] or provenance_rows.get(path) not in (None, row["rows"]):
            partition = partition_of(path)
            series = _series(partition)
            repair = repair_of(partition)
        if rows is None:
            broken.add(path)
            gone = not (root / path).exists()
            findings.append(
                Finding(
                    "integrity", "partition_gone" if gone else "partition_damaged", Severity.ERROR,
                    f"{path} is {'gone' if gone else f'damaged ({why})'}",
                    **series, ref=path, repair=repair,  # type: ignore[arg-type]
                )
            )  # fmt: skip
            continue
        if rows != row["rows"]:
            findings.append(
                Finding(
                    "integrity", "partition_rows", Severity.ERROR,
                    f"{path} holds {rows} rows, the lake recorded {row['rows']}",
                    **series, ref=path, value=float(rows), repair=repair,  # type: ignore[arg-type]
                )
            )  # fmt: skip
        recorded = provenance_rows.get(path)
        if recorded is not None and recorded != row["rows"]:
            findings.append(
                Finding(
                    "integrity", "provenance_rows", Severity.ERROR,
                    f"{path}: day_provenance gives its days {recorded} rows, the partition holds {row['rows']}",
                    **series, ref=path, value=float(recorded), repair=repair,  # type: ignore[arg-type]
                )
            )  # fmt: skip
    return findings, broken


def stray_files(
    root: Path, recorded: set[str], *, only: Iterable[str] | None = None, writing: bool = False
) -> list[Finding]:
    """Files under `tables/` the lake did not record: temporary (a killed writer's), unrecorded Parquet, or
    unknown. `only`: dataset directories to walk (all when None). `writing`: a writer holds the lake now, so
    its temporary files and the partitions it has not recorded yet are its work in progress, not strays."""
    tables = root / TABLES_DIR
    if not tables.is_dir():
        return []
    tops = [tables / d for d in only] if only is not None else [tables]
    findings: list[Finding] = []
    for top in tops:
        for directory, _dirs, names in os.walk(top):
            for name in names:
                path = Path(directory, name).relative_to(root).as_posix()
                if path in recorded:
                    continue
                if writing and (_TEMPORARY.match(name) or name.endswith(".parquet")):
                    continue
                if _TEMPORARY.match(name):
                    rule, what, repair = (
                        "temporary_file",
                        "a temporary file a killed write left",
                        "binance-lake sync (removes them)",
                    )
                elif name.endswith(".parquet"):
                    rule, what, repair = (
                        "orphan_file",
                        "a Parquet file the lake never recorded",
                        f"delete {path}, or sync its series",
                    )
                else:
                    rule, what, repair = "unknown_file", "not a file the lake writes", f"delete {path}"
                findings.append(
                    Finding("integrity", rule, Severity.WARNING, f"{path}: {what}", ref=path, repair=repair)
                )
    return findings  # fmt: skip


def catalog_agreement(files: pa.Table, upstream: pa.Table) -> list[Finding]:
    """Ingested files (file_state rows) the catalog lists as gone, or with another ETag than ingested
    (a re-upload: `sync` fetches it again)."""
    connection = duckdb.connect()
    try:
        connection.register("f", files)
        connection.register("u", upstream)
        rows = connection.execute(
            """
            SELECT f.key, f.market, f.dataset, f."interval", f.symbol, f.cadence, f.period, u.gone,
                   f.etag, u.etag
            FROM f JOIN u USING (key)
            WHERE u.gone OR (f.etag IS NOT NULL AND u.etag IS NOT NULL AND f.etag <> u.etag)
            ORDER BY f.key
            """
        ).fetchall()
    finally:
        connection.close()
    findings = []
    for key, market, dataset, interval, symbol, cadence, period, gone, etag, listed in rows:
        file = archive_file(
            {"market": market, "cadence": cadence, "dataset": dataset, "symbol": symbol,
             "interval": interval, "period": period}
        )  # fmt: skip
        series = {"market": market, "dataset": dataset, "interval": interval, "symbol": symbol}
        if gone:
            message, rule = f"{key}: no longer listed upstream (the lake keeps its rows)", "catalog_gone"
        else:
            message, rule = f"{key}: re-uploaded upstream (ETag {listed}, ingested {etag})", "catalog_etag"
        findings.append(
            Finding("integrity", rule, Severity.WARNING, message, **series, ref=key, repair=_sync_of(file))
        )
    return findings
