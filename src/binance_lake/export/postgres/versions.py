"""`data_versions`, the export's memory in PostgreSQL: per series, what has been copied and from which lake
partitions, so a re-export copies only what changed and an interrupted one resumes.

One row per (table_name, symbol, timeframe) — `timeframe` is '' for tables without one:

- `partitions`: lake partition file name → `[fingerprint, lo, hi]` for every partition whose rows in
  `[lo, hi)` (µs) are in PostgreSQL as the file with that fingerprint (size and mtime; partitions are
  replaced by an atomic rename, so a rewritten one — a provisional day replaced, a re-upload — differs);
- `watermark` and `pending`: how far the current export of the partition `pending` (`[name, fingerprint]`)
  has got; an interrupted export starts again there instead of at the partition's start;
- `rows_exported` (by the last run), `provenance` (held days per source in the exported range, from the
  lake's `day_provenance`), `first_time` / `last_time` in PostgreSQL, and the last run's start and end.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from binance_lake.export.postgres.ddl import DATA_VERSIONS, qualified
from binance_lake.export.postgres.sink import PostgresSink
from binance_lake.export.postgres.tables import PgTable

Entry = tuple[str, int, int]  # fingerprint, lo, hi


@dataclass(frozen=True)
class Version:
    """What `data_versions` says about one series."""

    partitions: Mapping[str, Entry] = field(default_factory=dict)
    watermark_us: int | None = None
    pending: tuple[str, str] | None = None


def markets(sink: PostgresSink) -> set[str]:
    """The markets whose rows the export schema holds (one market a schema: symbols would collide)."""
    rows = sink.execute(f"SELECT DISTINCT market FROM {qualified(sink.schema, DATA_VERSIONS)}")
    return {str(r[0]) for r in rows}


def read(sink: PostgresSink, table: PgTable, timeframe: str | None) -> dict[str, Version]:
    """Every series of `table` (one timeframe) by symbol."""
    rows = sink.execute(
        "SELECT symbol, partitions, (extract(epoch FROM watermark) * 1000000)::bigint, pending "
        f"FROM {qualified(sink.schema, DATA_VERSIONS)} WHERE table_name = %s AND timeframe = %s",
        [table.name, timeframe or ""],
    )
    sink.connection.commit()
    found = {}
    for symbol, parts, watermark, pending in rows:
        entries = {str(k): (str(v[0]), int(v[1]), int(v[2])) for k, v in dict(parts).items()}
        found[str(symbol)] = Version(
            entries,
            None if watermark is None else int(watermark),
            None if pending is None else (str(pending[0]), str(pending[1])),
        )
    return found


def _moment(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def progress(
    sink: PostgresSink,
    table: PgTable,
    timeframe: str | None,
    symbol: str,
    *,
    market: str,
    watermark_us: int,
    done: Mapping[str, Entry],
    pending: tuple[str, str] | None,
    rows: int,
    run_started: dt.datetime,
) -> tuple[str, Sequence[Any]]:
    """The statement recording a merged batch (run in the batch's transaction): the new watermark, the
    partitions now complete, the one in progress, and the run's rows so far."""
    name = qualified(sink.schema, DATA_VERSIONS)
    return (
        f"""INSERT INTO {name} AS v (table_name, symbol, timeframe, market, dataset, watermark, partitions,
                pending, rows_exported, last_run_started, last_run_finished)
            VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, NULL)
            ON CONFLICT (table_name, symbol, timeframe) DO UPDATE SET
                watermark = EXCLUDED.watermark,
                partitions = v.partitions || EXCLUDED.partitions,
                pending = EXCLUDED.pending,
                rows_exported = CASE WHEN v.last_run_started = EXCLUDED.last_run_started
                    THEN v.rows_exported + EXCLUDED.rows_exported ELSE EXCLUDED.rows_exported END,
                market = EXCLUDED.market,
                last_run_started = EXCLUDED.last_run_started,
                last_run_finished = NULL""",
        [
            table.name,
            symbol,
            timeframe or "",
            market,
            table.dataset,
            _moment(watermark_us),
            json.dumps({k: list(v) for k, v in done.items()}),
            None if pending is None else json.dumps(list(pending)),
            rows,
            run_started,
        ],
    )


def finished(
    sink: PostgresSink,
    table: PgTable,
    timeframe: str | None,
    symbol: str,
    *,
    provenance: Mapping[str, int],
    finished_at: dt.datetime,
) -> tuple[str, Sequence[Any]]:
    """The statement closing a series' export: provenance counts, its time span in PostgreSQL, the end."""
    series = "t.symbol = v.symbol" + (" AND t.timeframe = v.timeframe" if table.has_timeframe else "")
    return (
        f"""UPDATE {qualified(sink.schema, DATA_VERSIONS)} AS v SET
                provenance = %s::jsonb, pending = NULL, last_run_finished = %s,
                first_time = (SELECT min(time) FROM {qualified(sink.schema, table.name)} t WHERE {series}),
                last_time = (SELECT max(time) FROM {qualified(sink.schema, table.name)} t WHERE {series})
            WHERE v.table_name = %s AND v.symbol = %s AND v.timeframe = %s""",
        [json.dumps(dict(provenance)), finished_at, table.name, symbol, timeframe or ""],
    )
