"""`listed_ranges`: which directories (and which of their days) a refresh listed completely."""

from __future__ import annotations

import datetime as dt

from binance_lake.core.vocabulary import Market
from binance_lake.storage.database import Connection


def _prefix_parts(prefix: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(market, cadence, dataset, symbol, interval) named by a listing prefix; None where it names all."""
    parts = prefix.removeprefix("data/").rstrip("/").split("/")
    if parts and parts[0] == "futures":
        parts = [f"{parts[0]}/{parts[1]}", *parts[2:]] if len(parts) > 1 else parts
    market = {m.archive_dir: m.value for m in Market}.get(parts[0]) if parts else None
    rest = [*parts[1:], None, None, None, None][:4]
    cadence, dataset, symbol, interval = rest
    return market, cadence, dataset, symbol, interval


def record_listed(
    connection: Connection, listed: list[tuple[str, dt.date | None, dt.date | None]], *, now: dt.datetime
) -> None:
    """Remember the directories and day ranges a refresh listed completely (only ones not already known)."""
    rows = []
    for prefix, first, last in listed:
        covered = connection.execute(
            """
            SELECT count(*) FROM listed_ranges
            WHERE starts_with(?, prefix) AND (first_day IS NULL OR first_day <= coalesce(?, DATE '0001-01-01'))
              AND (last_day IS NULL OR last_day >= coalesce(?, DATE '9999-12-31'))
            """,
            [prefix, first, last],
        ).fetchall()[0][0]
        if not covered:
            rows.append((prefix, *_prefix_parts(prefix), first, last, now))
    if rows:
        connection.executemany("INSERT INTO listed_ranges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
