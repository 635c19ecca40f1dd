"""Applying listings to the catalog: new, changed (revisions), gone, revived, and idempotence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.catalog import store
from binance_lake.catalog.store import (
    SCHEMA,
    SeenFile,
    apply_seen,
    ensure_catalog,
    index_if_missing,
    seen_table,
    set_meta,
)
from binance_lake.core.archive import ParsedKey, parse_key
from binance_lake.core.series import SERIES_CODES
from binance_lake.storage.database import LakeDatabase

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PREFIX = "data/futures/um/daily/klines/"


def seen(key: str, size: int = 100, etag: str = "e0", checksum: int | None = 92) -> SeenFile:
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey)
    return SeenFile(parsed, size, etag, T0, checksum)


def kline(symbol: str, day: int, **kwargs: object) -> SeenFile:
    return seen(f"{PREFIX}{symbol}/1h/{symbol}-1h-2024-01-{day:02d}.zip", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def database(tmp_path: Path) -> LakeDatabase:
    db = LakeDatabase(tmp_path)
    db.ensure_schema(SCHEMA)
    return db


def rows(database: LakeDatabase, sql: str) -> list[tuple[object, ...]]:
    with database.connect() as c:
        return c.execute(sql).fetchall()


def test_new_then_unchanged_writes_nothing(database: LakeDatabase) -> None:
    files = [kline("BTCUSDT", d) for d in range(1, 6)]
    with database.connect() as c:
        first = apply_seen(c, seen_table(files), now=T0, scope=[(PREFIX, None, None)])
    assert (first.new, first.changed, first.gone) == (5, 0, 0)
    before = rows(database, "SELECT * FROM upstream_files ORDER BY key")
    with database.connect() as c:
        second = apply_seen(c, seen_table(files), now=T0 + dt.timedelta(days=1), scope=[(PREFIX, None, None)])
    assert second.total == 0 and second.unchanged == 5
    assert rows(database, "SELECT * FROM upstream_files ORDER BY key") == before


def test_reupload_is_a_revision(database: LakeDatabase) -> None:
    with database.connect() as c:
        apply_seen(c, seen_table([kline("BTCUSDT", 1)]), now=T0, scope=[(PREFIX, None, None)])
        changes = apply_seen(
            c, seen_table([kline("BTCUSDT", 1, size=120, etag="e1")]), now=T0, scope=[(PREFIX, None, None)]
        )
    assert changes.changed == 1
    assert rows(database, "SELECT change, old_etag, new_etag, old_size, new_size FROM file_revisions") == [
        ("changed", "e0", "e1", 100, 120)
    ]
    assert rows(database, "SELECT etag, size FROM upstream_files") == [("e1", 120)]


def test_gone_only_inside_the_listed_scope_and_revival(database: LakeDatabase) -> None:
    a, b = kline("BTCUSDT", 1), kline("ETHUSDT", 1)
    with database.connect() as c:
        apply_seen(c, seen_table([a, b]), now=T0, scope=[(PREFIX, None, None)])
        # A listing of BTCUSDT only says nothing about ETHUSDT.
        narrow = apply_seen(c, seen_table([]), now=T0, scope=[(f"{PREFIX}BTCUSDT/", None, None)])
        assert narrow.gone == 1
        assert apply_seen(c, seen_table([a]), now=T0, scope=None).revived == 1
        probe = apply_seen(c, seen_table([]), now=T0, scope=None)
        assert probe.gone == 0
    assert rows(database, "SELECT symbol, gone FROM upstream_files ORDER BY symbol") == [
        ("BTCUSDT", False),
        ("ETHUSDT", False),
    ]
    assert [r[0] for r in rows(database, "SELECT change FROM file_revisions ORDER BY seen_at, change")] == [
        "gone",
        "revived",
    ]


def test_other_keys_are_counted_once(database: LakeDatabase) -> None:
    with database.connect() as c:
        first = apply_seen(c, seen_table([]), now=T0, scope=None, other=[("index.html", "not under data/")])
        again = apply_seen(c, seen_table([]), now=T0, scope=None, other=[("index.html", "not under data/")])
    assert (first.other_new, again.other_new) == (1, 0)


@settings(max_examples=25, deadline=None)
@given(
    first=st.lists(
        st.tuples(st.sampled_from(["AUSDT", "BUSDT", "CUSDT"]), st.integers(1, 28), st.integers(1, 3)),
        max_size=30,
    ),
    second=st.lists(
        st.tuples(st.sampled_from(["AUSDT", "BUSDT", "CUSDT"]), st.integers(1, 28), st.integers(1, 3)),
        max_size=30,
    ),
)
def test_catalog_equals_the_last_full_listing(
    first: list[tuple[str, int, int]],
    second: list[tuple[str, int, int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    database = LakeDatabase(tmp_path_factory.mktemp("lake"))
    database.ensure_schema(SCHEMA)

    def listing(items: list[tuple[str, int, int]]) -> list[SeenFile]:
        unique = {(s, d): v for s, d, v in items}
        return [kline(s, d, etag=f"e{v}") for (s, d), v in unique.items()]

    with database.connect() as c:
        apply_seen(c, seen_table(listing(first)), now=T0, scope=[(PREFIX, None, None)])
        apply_seen(c, seen_table(listing(second)), now=T0, scope=[(PREFIX, None, None)])
        live = set(c.execute("SELECT key, etag FROM upstream_files WHERE NOT gone").fetchall())
    assert live == {(f.parsed.key, f.etag) for f in listing(second)}


def test_a_series_added_to_the_code_table_keeps_every_lakes_day_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 8 of #10: a new dataset only appends series codes; the day index of a lake is not rebuilt."""
    database = LakeDatabase(tmp_path)
    ensure_catalog(database)
    with database.connect() as c:
        apply_seen(c, seen_table([kline("BTCUSDT", d) for d in range(1, 4)]), now=T0, scope=None)
        # The lake as a version with a shorter code table left it (the newest codes were not there yet).
        c.execute("DELETE FROM series_codes WHERE code > ?", [len(SERIES_CODES) - 5])
        set_meta(c, "series_codes", "an older table")
    index = rows(database, "SELECT * FROM day_index ORDER BY ALL")
    assert len(index) == 3

    def no_rebuild(connection: object) -> None:
        raise AssertionError("the day index was rebuilt")

    monkeypatch.setattr(store, "rebuild_day_index", no_rebuild)
    with database.connect() as c:
        index_if_missing(c)
    assert rows(database, "SELECT * FROM day_index ORDER BY ALL") == index
    codes = rows(database, 'SELECT code, market, dataset, "interval" FROM series_codes ORDER BY code')
    assert codes == [(c, *k) for k, c in sorted(SERIES_CODES.items(), key=lambda kv: kv[1])]


def test_codes_that_contradict_the_table_are_replaced_and_the_day_index_rebuilt(tmp_path: Path) -> None:
    database = LakeDatabase(tmp_path)
    ensure_catalog(database)
    with database.connect() as c:
        apply_seen(c, seen_table([kline("BTCUSDT", d) for d in range(1, 4)]), now=T0, scope=None)
    index = rows(database, "SELECT * FROM day_index ORDER BY ALL")
    with database.connect() as c:
        c.execute("UPDATE series_codes SET code = code + 1000")
        c.execute("DELETE FROM day_index")
        set_meta(c, "series_codes", "another numbering")
        index_if_missing(c)
    assert rows(database, "SELECT * FROM day_index ORDER BY ALL") == index
