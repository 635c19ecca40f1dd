"""No raw SQL against lake.duckdb's tables outside the packages that own them (issue 10, "Seams").

The tables are declared in storage/schema.py; storage/, catalog/ and engine/ write them and export typed
reads (storage/state_reads.py, storage/coverage_facts.py, catalog/reads.py, ...). The packages above —
load/, facade/, cli/ and lake.py — call those functions and spell no SQL against the tables themselves, so a
schema change has one place to look. This test reads their source text and fails with the file and line of
any SQL-looking reference to a lake table: `FROM`/`JOIN` followed by the table (qualified or not), or an
interpolated database qualifier right before it (`f"{alias}.file_state"`, `f"{schema}file_state"`), which is
how a query names an attached lake's table before it is spliced into a `FROM`.
"""

from __future__ import annotations

import re
from pathlib import Path

import binance_lake

PACKAGE = Path(binance_lake.__file__).parent
READERS = ("load", "facade", "cli", "lake.py")


def lake_tables() -> frozenset[str]:
    """Every table storage/schema.py creates (views over them are the catalog's public query surface)."""
    text = (PACKAGE / "storage" / "schema.py").read_text()
    return frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", text))


def _pattern(tables: frozenset[str]) -> re.Pattern[str]:
    names = "|".join(sorted(tables))
    return re.compile(rf"(?:\b(?:FROM|JOIN)\s+(?:[\w{{}}$]+\.)?|\}}\.?)({names})\b")


def offences(text: str, tables: frozenset[str]) -> list[tuple[int, str]]:
    """(line, table) for every SQL-looking reference to a lake table in `text`."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _pattern(tables).finditer(text)]


def _sources() -> list[Path]:
    files: list[Path] = []
    for name in READERS:
        path = PACKAGE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_the_schema_declares_the_tables_this_test_knows() -> None:
    assert {"upstream_files", "file_state", "listed_ranges", "partitions", "day_provenance"} <= lake_tables()


def test_no_package_above_the_owners_embeds_sql_against_lake_tables() -> None:
    tables = lake_tables()
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: SQL against `{table}`"
        for path in _sources()
        for line, table in offences(path.read_text(), tables)
    ]
    assert not found, "read these tables through their owner's typed functions:\n" + "\n".join(found)


def test_the_scan_sees_each_way_a_query_names_a_table() -> None:
    tables = lake_tables()
    caught = [
        'rows = handle.execute("SELECT symbol FROM upstream_files WHERE market = ?")',
        'f"SELECT * FROM {alias}.day_provenance"',
        "f'''SELECT 1\n  FROM lake.partitions p\n  JOIN lake.listed_ranges l USING (market)'''",
        'days = f"{alias}.file_state"',
        'f"SELECT DISTINCT symbol FROM {schema}file_state"',
    ]
    for text in caught:
        assert offences(text, tables), text
    assert offences(caught[2], tables) == [(2, "partitions"), (3, "listed_ranges")]
    passed = [
        'if "upstream_files" in tables:',
        "# the days each ingested file in `file_state` covers, from the state database",
        'f"SELECT * FROM read_parquet({pattern!r})"',
        "SELECT * FROM lake.symbols",  # a catalog view, the public query surface
    ]
    for text in passed:
        assert not offences(text, tables), text
