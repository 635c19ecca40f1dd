"""The one schema of lake.duckdb and its migrations: a lake as main wrote it before versions existed is upgraded
in place with every row kept, a newer lake is refused in one sentence, a migration that fails or crashes midway
leaves the lake as it was, and an up-to-date lake costs no DDL."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.errors import SchemaTooNew, StorageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.timerange import iter_days
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.load import status as load_status
from binance_lake.load.connection import clear_cache
from binance_lake.load.views import sql
from binance_lake.sim.server import SimServer
from binance_lake.storage import schema
from binance_lake.storage.database import DATABASE_NAME, LakeDatabase
from binance_lake.storage.schema import MIGRATIONS, SCHEMA_VERSION, FileStatus, Migration, migrate, version_of

MAIN_SCHEMA = Path(__file__).with_name("main_schema_v0.sql")
TABLES = (
    "upstream_files",
    "file_revisions",
    "upstream_other",
    "exchange_symbols",
    "series_codes",
    "day_index",
    "listed_ranges",
    "catalog_meta",
    "file_state",
    "sync_runs",
    "partitions",
)
VIEWS = ("symbol_datasets", "symbols", "daily_availability")


def main_statements(*, failed_bytes: bool = True) -> list[str]:
    """The DDL main ran, statement by statement (without the hardening's ALTER when `failed_bytes` is off)."""
    text = MAIN_SCHEMA.read_text()
    statements = [s.strip() for s in text.split(";\n")]
    statements = [
        "\n".join(line for line in s.splitlines() if not line.startswith("--")).strip() for s in statements
    ]
    return [s for s in statements if s and (failed_bytes or "failed_bytes" not in s)]


@pytest.fixture(scope="module")
def synced(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake synced with this code against the simulator, with a row in every table."""
    root = tmp_path_factory.mktemp("synced")
    lake = Lake(settings=sim_server.settings(root))
    lake.sync(
        market="um",
        datasets="klines",
        symbols="BTCUSDT",
        intervals="1d",
        start="2023-08-01",
        end="2023-08-04",
    )
    lake.catalog.refresh(markets="um", datasets="fundingRate", symbols="BTCUSDT")
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with duckdb.connect(str(root / DATABASE_NAME)) as connection:
        # The tables a quiet sync leaves empty get one row each, so "every row kept" covers them too.
        connection.execute(
            "INSERT INTO upstream_other VALUES ('data/futures/um/README.txt', 'not a dataset', ?)", [now]
        )
        connection.execute(
            "INSERT INTO file_revisions SELECT key, ?, 'changed', 1, 'a', ?, size, etag, last_modified "
            "FROM upstream_files LIMIT 1",
            [now, now],
        )
        connection.execute(
            "INSERT INTO file_state SELECT * REPLACE (key || '.bad' AS key, ? AS status, 'bad bytes' AS error, "
            "'sha256:00' AS failed_bytes) FROM file_state LIMIT 1",
            [FileStatus.QUARANTINED.value],
        )
        for table in TABLES:
            assert connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0, table
    return root


def old_lake(synced: Path, root: Path, *, failed_bytes: bool = True) -> Path:
    """A copy of `synced` in main's unversioned schema: built from main's DDL, then every row copied over."""
    shutil.copytree(synced / "tables", root / "tables")
    with duckdb.connect(str(root / DATABASE_NAME)) as connection:
        for statement in main_statements(failed_bytes=failed_bytes):
            connection.execute(statement)
        connection.execute(f"ATTACH '{synced / DATABASE_NAME}' AS source (READ_ONLY)")
        for table in TABLES:
            columns = ", ".join(f'"{c}"' for c in _columns(connection, table))
            connection.execute(f"INSERT INTO {table} SELECT {columns} FROM source.{table}")
        connection.execute("DETACH source")
    return root


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database() "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def columns_of(root: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        return {name: _columns(connection, name) for name in (*TABLES, *VIEWS)}


def dump(root: Path, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table and view, sorted; `columns` restricts each table to the columns given."""
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        out = {}
        for name in (*TABLES, *VIEWS):
            wanted = (columns or {}).get(name) or _columns(connection, name)
            listed = ", ".join(f'"{c}"' for c in wanted)
            out[name] = connection.execute(f"SELECT {listed} FROM {name} ORDER BY ALL").fetchall()
        return out


def shape(root: Path) -> dict[str, object]:
    """The schema itself: every table's columns with types, nullability and defaults, and every view's SQL."""
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE database_name = current_database() AND NOT internal AND schema_name = 'main' ORDER BY ALL"
        ).fetchall()
        views = connection.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' ORDER BY 1"
        ).fetchall()
    # A column added by ALTER sits at the end of its table: compare sets, not positions.
    return {"columns": sorted(columns), "views": views}


def answers(root: Path) -> tuple[pa.Table, pa.Table]:
    clear_cache()
    return load_status.status(root), load_status.problems(root)


def backfilled(root: Path) -> list[tuple[Any, ...]]:
    """day_provenance without its write times: (path, day, source, key, ETag, rows)."""
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        return connection.execute(
            'SELECT path, day, source, upstream_ref, etag, "rows" FROM day_provenance ORDER BY ALL'
        ).fetchall()


def ingested_days(root: Path) -> list[tuple[Any, ...]]:
    """What day_provenance must say of the ingested files (one-day files: their rows are the day's)."""
    out = []
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        rows = connection.execute(
            'SELECT market, dataset, "interval", symbol, first_day, last_day, provenance, key, etag, "rows" '
            "FROM file_state WHERE status = ?",
            [FileStatus.INGESTED.value],
        ).fetchall()
    for market, dataset, interval, symbol, first, last, source, key, etag, count in rows:
        for day in iter_days(first, last):
            kind = Interval(interval) if interval is not None else None
            partition = partition_for_day(dataset, Market(market), kind, symbol, day)
            # A monthly file's split into days was never recorded: NULL rather than a guess.
            out.append((partition.posix, day, source, key, etag, count if first == last else None))
    return sorted(out)


@pytest.mark.parametrize("failed_bytes", [True, False], ids=["main", "before-hardening"])
def test_a_lake_main_wrote_is_upgraded_in_place_with_every_row_kept(
    synced: Path, tmp_path: Path, failed_bytes: bool
) -> None:
    root = old_lake(synced, tmp_path / "lake", failed_bytes=failed_bytes)
    before, old_columns = dump(root), columns_of(root)
    old_answers = answers(root)  # a reader reads the unversioned lake as it is, writing nothing
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        assert version_of(connection) == 0

    ensure_catalog(LakeDatabase(root))

    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        assert version_of(connection) == SCHEMA_VERSION
        history = connection.execute(
            "SELECT version, description FROM schema_migrations ORDER BY 1"
        ).fetchall()
        assert history == [(m.version, m.description) for m in MIGRATIONS]
        failed = connection.execute("SELECT key, failed_bytes FROM file_state WHERE failed_bytes IS NOT NULL")
        kept_failed_bytes = failed.fetchall()
    after = dump(root, old_columns)
    assert {k: v for k, v in after.items() if k != "daily_availability"} == {
        k: v for k, v in before.items() if k != "daily_availability"
    }
    # Migration 5's view keeps every row of series with an interval as it was; those without one (fundingRate)
    # were never matched by the old view's equi-join on NULL intervals and now show their files.
    position = old_columns["daily_availability"].index("interval")
    assert [r for r in after["daily_availability"] if r[position] is not None] == [
        r for r in before["daily_availability"] if r[position] is not None
    ]
    untimed = [r for r in after["daily_availability"] if r[position] is None]
    assert untimed and all(r[old_columns["daily_availability"].index("available")] for r in untimed)
    assert backfilled(root) == ingested_days(root)  # every ingested day of the old lake has its provenance
    # The same days and sources the ingests of this code wrote, and the same rows where the backfill knows them.
    written = {row[:5]: row[5] for row in backfilled(synced)}
    assert {
        row[:5]: row[5] if row[5] is not None else written[row[:5]] for row in backfilled(root)
    } == written
    assert any(row[5] is None for row in backfilled(root))  # the synced lake holds a monthly file
    assert bool(kept_failed_bytes) is failed_bytes  # kept when main had it; the new column is empty otherwise
    new_answers = answers(root)
    assert new_answers[0].equals(old_answers[0])
    assert new_answers[1].equals(old_answers[1])
    assert len(new_answers[1]) == 1  # the quarantined file, found through the enum's value


def test_an_upgraded_lake_has_the_schema_of_a_new_one(synced: Path, tmp_path: Path) -> None:
    old = old_lake(synced, tmp_path / "old", failed_bytes=False)
    ensure_catalog(LakeDatabase(old))
    new = tmp_path / "new"
    ensure_catalog(LakeDatabase(new))
    assert shape(old) == shape(new)
    assert shape(synced) == shape(new)


def _newer(root: Path) -> None:
    ensure_catalog(LakeDatabase(root))
    with duckdb.connect(str(root / DATABASE_NAME)) as connection:
        connection.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', now())", [SCHEMA_VERSION + 1]
        )


def test_a_lake_from_a_newer_version_is_refused_in_one_sentence(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _newer(root)
    sentence = (
        f"this lake was written by a newer binance-lake (schema {SCHEMA_VERSION + 1}, this version reads up to "
        f"{SCHEMA_VERSION}); upgrade binance-lake"
    )
    with duckdb.connect(str(root / DATABASE_NAME)) as connection, pytest.raises(SchemaTooNew) as raised:
        migrate(connection)
    assert str(raised.value) == sentence
    assert isinstance(raised.value, StorageError)
    clear_cache()
    for read in (load_status.status, load_status.problems, lambda r: sql(r, "SELECT 1")):
        with pytest.raises(SchemaTooNew, match="upgrade binance-lake"):
            read(root)
    other = tmp_path / "other"  # a database this process never ensured: the writer's open step refuses too
    _newer(other)
    schema._ENSURED.clear()
    with pytest.raises(SchemaTooNew, match=r"^this lake was written by a newer binance-lake"):
        ensure_catalog(LakeDatabase(other))


def test_a_migration_that_fails_midway_leaves_the_version_and_tables_as_they_were(
    synced: Path, tmp_path: Path
) -> None:
    root = old_lake(synced, tmp_path / "lake", failed_bytes=False)
    before, before_shape = dump(root), shape(root)
    boom = Migration(1, "fails after some DDL", (*MIGRATIONS[0].steps, "SELECT error('injected')"))
    with (
        duckdb.connect(str(root / DATABASE_NAME)) as connection,
        pytest.raises(duckdb.Error, match="injected"),
    ):
        migrate(connection, (boom,))
    assert dump(root) == before and shape(root) == before_shape  # no schema_migrations, nothing added

    ensure_catalog(LakeDatabase(root))
    upgraded = shape(root)

    def fail(connection: duckdb.DuckDBPyConnection) -> None:
        raise RuntimeError("injected")

    later = Migration(
        SCHEMA_VERSION + 1,
        "adds, then fails",
        ("CREATE TABLE novel (x INTEGER)", "ALTER TABLE file_state ADD COLUMN novel INTEGER", fail),
    )
    with duckdb.connect(str(root / DATABASE_NAME)) as connection:
        with pytest.raises(RuntimeError, match="injected"):
            migrate(connection, (*MIGRATIONS, later))
        assert version_of(connection) == SCHEMA_VERSION
    assert shape(root) == upgraded


CRASH = """
import os, sys
import duckdb
from binance_lake.storage.schema import MIGRATIONS, SCHEMA_VERSION, Migration, migrate

def crash(connection):
    os._exit(9)  # like kill -9: no rollback, no close

later = Migration(SCHEMA_VERSION + 1, "crashes", ("CREATE TABLE novel (x INTEGER)", "INSERT INTO novel VALUES (1)",
                  "ALTER TABLE file_state ADD COLUMN novel INTEGER", "DELETE FROM upstream_files", crash))
migrate(duckdb.connect(sys.argv[1]), (*MIGRATIONS, later))
"""


def test_a_crash_mid_migration_leaves_the_old_version_readable(synced: Path, tmp_path: Path) -> None:
    root = old_lake(synced, tmp_path / "lake")
    ensure_catalog(LakeDatabase(root))
    before, before_shape = dump(root), shape(root)
    run = subprocess.run(
        [sys.executable, "-c", CRASH, str(root / DATABASE_NAME)], check=False, env=os.environ
    )
    assert run.returncode == 9
    assert dump(root) == before and shape(root) == before_shape
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        assert version_of(connection) == SCHEMA_VERSION


class Spy:
    """A connection that records every statement it runs."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.statements.append(" ".join(sql.split()))
        return self.connection.execute(sql, *args)


def test_an_up_to_date_lake_costs_one_lookup_and_no_ddl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    ensure_catalog(LakeDatabase(root))
    before = shape(root)
    with duckdb.connect(str(root / DATABASE_NAME)) as connection:
        spy = Spy(connection)
        assert migrate(spy) == SCHEMA_VERSION  # type: ignore[arg-type]
        assert migrate(spy) == SCHEMA_VERSION  # type: ignore[arg-type]
    assert all(s.startswith("SELECT") for s in spy.statements), spy.statements
    assert len(spy.statements) == 2  # one lookup a call
    assert shape(root) == before

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("an ensured lake is not opened again")

    monkeypatch.setattr(LakeDatabase, "connect", no_open)
    ensure_catalog(LakeDatabase(root))  # once a process: the second time costs nothing


def test_migrations_are_numbered_in_order_from_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION
    created = " ".join(s for m in MIGRATIONS for s in m.steps if isinstance(s, str))
    for name in (*TABLES, *VIEWS):
        assert f" {name} " in textwrap.dedent(created).replace("\n", " "), name


OLD_SRC = os.environ.get("BINANCE_LAKE_OLD_SRC")


@pytest.mark.old_code
def test_a_lake_synced_by_the_old_code_opens_with_every_row(sim_server: SimServer, tmp_path: Path) -> None:
    """The real thing, when an older checkout is at hand: the OLD code syncs, the new code opens. Opt-in
    (`pytest -m old_code` with BINANCE_LAKE_OLD_SRC=<an older checkout>/src); the frozen-DDL tests above run
    always."""
    assert OLD_SRC, "set BINANCE_LAKE_OLD_SRC to the src/ of an older binance-lake checkout"
    root = tmp_path / "lake"
    script = textwrap.dedent(
        f"""
        import sys
        import binance_lake
        from binance_lake.lake import Lake
        assert binance_lake.__file__.startswith({OLD_SRC!r}), binance_lake.__file__
        Lake(sys.argv[1]).sync(market="um", datasets="klines", symbols="BTCUSDT", intervals="1d",
                               start="2023-08-01", end="2023-08-03")
        """
    )
    env = {**os.environ, **sim_server.settings_env(), "PYTHONPATH": str(OLD_SRC)}
    subprocess.run([sys.executable, "-c", script, str(root)], check=True, env=env)
    before, old_columns = dump(root), columns_of(root)
    old_answers = answers(root)
    ensure_catalog(LakeDatabase(root))
    assert dump(root, old_columns) == before  # every row of every table and view
    with duckdb.connect(str(root / DATABASE_NAME), read_only=True) as connection:
        assert version_of(connection) == SCHEMA_VERSION
    new_answers = answers(root)
    assert new_answers[0].equals(old_answers[0]) and new_answers[1].equals(old_answers[1])


def test_a_new_lake_gets_every_migration_in_one_transaction_an_old_one_each_in_its_own(
    synced: Path, tmp_path: Path
) -> None:
    """A new database has nothing to keep if a migration fails, so all of them commit once; a lake written
    before versions existed (version 0 too, but with tables) keeps the step-by-step upgrade."""
    new = tmp_path / "new"
    new.mkdir()
    with duckdb.connect(str(new / DATABASE_NAME)) as connection:
        spy = Spy(connection)
        assert migrate(spy) == SCHEMA_VERSION  # type: ignore[arg-type]
        versions = connection.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert spy.statements.count("BEGIN TRANSACTION") == 1
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]

    old = old_lake(synced, tmp_path / "old", failed_bytes=False)
    with duckdb.connect(str(old / DATABASE_NAME)) as connection:
        spy = Spy(connection)
        assert migrate(spy) == SCHEMA_VERSION  # type: ignore[arg-type]
    assert spy.statements.count("BEGIN TRANSACTION") == len(MIGRATIONS)


def test_a_new_lake_whose_migration_fails_stays_empty(tmp_path: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    boom = Migration(SCHEMA_VERSION + 1, "fails", ("SELECT error('injected')",))
    with duckdb.connect(str(new / DATABASE_NAME)) as connection:
        with pytest.raises(duckdb.Error, match="injected"):
            migrate(connection, (*MIGRATIONS, boom))
        assert version_of(connection) == 0
        tables = connection.execute("SELECT count(*) FROM information_schema.tables").fetchall()
    assert tables == [(0,)]
