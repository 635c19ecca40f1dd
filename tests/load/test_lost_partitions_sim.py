"""The read side over a lake that lost a partition after a sync: `load` reports the held days whose file is
gone or damaged as missing (and still returns everything else), and a query that reads a damaged file
names it and the sync that rebuilds it, while queries that do not read it still answer."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.core.errors import StorageError
from binance_lake.core.vocabulary import Interval
from binance_lake.load import missing_of
from binance_lake.load.missing import Gap
from binance_lake.load.reader import load_table
from binance_lake.load.request import build_request
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from tests.engine.test_sync_sim import lake_on
from tests.load.lakes import LakeBuilder, bars

D = dt.date
KLINES = "tables/klines/market=um/interval=1h/symbol=BTCUSDT"
OCTOBER = f"{KLINES}/2023-10.parquet"
REPAIR = (
    "binance-lake sync --market um --datasets klines --intervals 1h --symbols BTCUSDT "
    "--start 2023-10-01 --end 2023-10-31"
)


@pytest.fixture(scope="module")
def pristine(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three months of hourly bars for two symbols, funding for one, and three days of aggTrades."""
    root = tmp_path_factory.mktemp("pristine")
    lake = lake_on(sim_server, root)
    both = {"symbols": "BTCUSDT,ETHUSDT", "start": "2023-09-01", "end": "2023-11-30"}
    assert lake.sync(datasets="klines,fundingRate", intervals="1h", **both).ok
    assert lake.sync(datasets="aggTrades", symbols="BTCUSDT", start="2023-10-01", end="2023-10-03").ok
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the pristine lake (times preserved, as the records expect) to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "lake"))


def _garbage(path: Path, size: int) -> None:
    before = path.stat().st_mtime_ns
    path.write_bytes(b"\0garbage" * (size // 8) + b"x" * (size % 8))
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a later write, whatever the fs


def _load(sim_server: SimServer, root: Path, symbols: str = "BTCUSDT,ETHUSDT") -> pa.Table:
    table: pa.Table = lake_on(sim_server, root).load(
        "klines", symbols, "2023-09-01", "2023-11-30", interval="1h", as_="arrow"
    )
    return table


def _rows(table: pa.Table, symbol: str) -> int:
    return int(pc.sum(pc.equal(table.column("symbol"), symbol)).as_py())


def test_a_deleted_partition_is_reported_missing_by_load(sim_server: SimServer, root: Path) -> None:
    (root / OCTOBER).unlink()
    got = _load(sim_server, root)
    assert _rows(got, "BTCUSDT") == (30 + 30) * 24 and _rows(got, "ETHUSDT") == 91 * 24
    assert missing_of(got).gaps == (Gap("klines", "BTCUSDT", D(2023, 10, 1), D(2023, 10, 31), "1h"),)


@pytest.mark.parametrize("same_size", [True, False], ids=["same size", "other size"])
def test_a_damaged_partition_is_reported_missing_not_a_failed_load(
    sim_server: SimServer, root: Path, same_size: bool
) -> None:
    path = root / OCTOBER
    _garbage(path, path.stat().st_size if same_size else 100)
    got = _load(sim_server, root)
    assert _rows(got, "BTCUSDT") == 60 * 24 and _rows(got, "ETHUSDT") == 91 * 24
    assert missing_of(got).gaps == (Gap("klines", "BTCUSDT", D(2023, 10, 1), D(2023, 10, 31), "1h"),)


def test_a_lost_day_of_tick_data_is_reported_missing(sim_server: SimServer, root: Path) -> None:
    (root / "tables/aggTrades/market=um/symbol=BTCUSDT/2023-10-02.parquet").unlink()
    got = lake_on(sim_server, root).load("aggTrades", "BTCUSDT", "2023-10-01", "2023-10-03", as_="arrow")
    assert missing_of(got).gaps == (Gap("aggTrades", "BTCUSDT", D(2023, 10, 2), D(2023, 10, 2)),)
    days = {t.date() for t in got.column("transact_time").to_pylist()}
    assert days == {D(2023, 10, 1), D(2023, 10, 3)}


def test_a_query_names_the_damaged_file_and_the_sync_that_rebuilds_it(
    sim_server: SimServer, root: Path
) -> None:
    lake = lake_on(sim_server, root)
    _garbage(root / OCTOBER, 100)
    with pytest.raises(StorageError) as raised:
        lake.sql("SELECT count(*) AS n FROM klines")
    assert str(raised.value) == f"{OCTOBER} is damaged (not a Parquet file); run `{REPAIR}` to rebuild it"
    # Queries that never read the file still answer: another symbol, another dataset.
    eth = lake.sql("SELECT count(*) AS n FROM klines WHERE symbol = 'ETHUSDT'", as_="arrow")
    assert eth.column("n").to_pylist() == [91 * 24]
    assert lake.sql("SELECT count(*) AS n FROM fundingRate", as_="arrow").column("n").to_pylist()[0] > 0
    # The command it names repairs it.
    words = REPAIR.split()
    options = dict(zip(words[2::2], words[3::2], strict=True))
    report = lake.sync(
        market=options["--market"],
        datasets=options["--datasets"],
        intervals=options["--intervals"],
        symbols=options["--symbols"],
        start=options["--start"],
        end=options["--end"],
        refresh=False,
    )
    assert report.ok and report.lost_partitions == {OCTOBER: "damaged"}
    assert lake.sql("SELECT count(*) AS n FROM klines", as_="arrow").column("n").to_pylist() == [2 * 91 * 24]


def test_a_damaged_first_file_breaks_only_its_own_dataset(sim_server: SimServer, root: Path) -> None:
    # The view binds on the first file of the market: when that one is damaged the view cannot be made.
    first = f"{KLINES}/2023-09.parquet"
    _garbage(root / first, 100)
    lake = lake_on(sim_server, root)
    with pytest.raises(StorageError, match=f"^{first} is damaged .*--start 2023-09-01 --end 2023-09-30"):
        lake.sql("SELECT count(*) AS n FROM klines WHERE symbol = 'ETHUSDT'", as_="arrow")
    assert lake.sql("SELECT count(*) AS n FROM fundingRate", as_="arrow").column("n").to_pylist()[0] > 0


def test_only_errors_about_a_lake_file_are_called_damage(tmp_path: Path) -> None:
    from binance_lake.load.views import damaged_file_error  # new here; the other tests also run on older code

    inside = f"{tmp_path}/{OCTOBER}"
    found = damaged_file_error(tmp_path, Exception(f"No magic bytes found at end of file '{inside}'"))
    assert found is not None and str(found).startswith(f"{OCTOBER} is damaged (not a Parquet file); run `")
    mismatch = f'Failed to read file "{inside}": schema mismatch in glob: column "y" was read from …'
    assert damaged_file_error(tmp_path, Exception(mismatch)) is None
    elsewhere = "No magic bytes found at end of file '/elsewhere/market=um/x.parquet'"
    assert damaged_file_error(tmp_path, Exception(elsewhere)) is None


def test_without_partition_records_a_damaged_file_fails_the_load_naming_it(
    sim_server: SimServer, root: Path
) -> None:
    # A lake written before partitions were recorded: nothing to compare a stat with, so the damage shows
    # only when the file is read, and then as one sentence that says how to repair it.
    with LakeDatabase(root).connect() as connection:
        connection.execute("DROP TABLE partitions")
    _garbage(root / OCTOBER, 100)
    with pytest.raises(StorageError) as raised:
        _load(sim_server, root, "BTCUSDT")
    assert str(raised.value) == f"{OCTOBER} is damaged (not a Parquet file); run `{REPAIR}` to rebuild it"


# -- the rule, over any lost months and any range ----------------------------------------------------------

MONTHS = [D(2024, m, 1) for m in range(1, 5)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """January to April of hourly bars held as daily files (no partition records), March 10..12 never held."""
    root = tmp_path_factory.mktemp("built")
    b = LakeBuilder(root)
    table = bars(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 24 * 121, Interval.H1)
    b.put("klines", "BTCUSDT", table, D(2024, 1, 1), D(2024, 3, 9), interval=Interval.H1)
    b.announce("klines", "BTCUSDT", D(2024, 3, 10), D(2024, 3, 12), interval=Interval.H1)
    b.put("klines", "BTCUSDT", table, D(2024, 3, 13), D(2024, 4, 30), interval=Interval.H1)
    b.commit()
    return root


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sets(st.sampled_from(MONTHS)),
    st.dates(D(2024, 1, 1), D(2024, 4, 30)),
    st.dates(D(2024, 1, 1), D(2024, 4, 30)),
)
def test_missing_is_the_never_held_days_plus_the_held_days_of_lost_partitions(
    built: Path, tmp_path: Path, lost: set[dt.date], a: dt.date, b: dt.date
) -> None:
    first, last = min(a, b), max(a, b)
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    shutil.copytree(built, root, dirs_exist_ok=True)
    for month in lost:
        (root / f"{KLINES}/{month:%Y-%m}.parquet").unlink()
    request = build_request("klines", "BTCUSDT", first, last, interval="1h")
    loaded = load_table(root, request, require=False)
    never = {D(2024, 3, d) for d in (10, 11, 12)}
    days = {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
    expected = {d for d in days if d in never or d.replace(day=1) in lost}
    assert set(loaded.missing.days()) == expected
    # Gaps are maximal runs: no two of them touch.
    gaps = loaded.missing.gaps
    assert all(x.last_day + dt.timedelta(days=1) < y.first_day for x, y in itertools.pairwise(gaps))
    held = {t.date() for t in loaded.table.column("open_time").to_pylist()}
    assert held == days - expected
