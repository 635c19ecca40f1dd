"""`catalog_meta`: catalog-wide facts (the archive URL the keys belong to, the series-code fingerprint)."""

from __future__ import annotations

from binance_lake.storage.database import Connection


def set_meta(connection: Connection, name: str, value: str) -> None:
    """Record a catalog-wide fact (e.g. the archive URL the keys belong to); writes only on change."""
    # fetchall, not fetchone: DuckDB 2 refuses further work while a result is only partly fetched.
    rows = connection.execute("SELECT value FROM catalog_meta WHERE name = ?", [name]).fetchall()
    if rows and rows[0][0] == value:
        return
    connection.execute("DELETE FROM catalog_meta WHERE name = ?", [name])
    connection.execute("INSERT INTO catalog_meta VALUES (?, ?)", [name, value])
