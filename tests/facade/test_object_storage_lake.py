"""The same sync / load / sql / update on a local root and on an `s3://bucket/prefix` root (moto's S3 server on
loopback): equal rows, equal to the simulator's ground truth; on S3 the partitions and raw zips are objects,
`lake.duckdb` stays in the state directory and a reader elsewhere needs only the bucket; an object the state
does not record is never read."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.timerange import UTC, iter_days
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.lake import Lake
from binance_lake.load import missing_of
from binance_lake.load.missing import Gap
from binance_lake.ops import jobs
from binance_lake.ops.metrics import Metrics
from binance_lake.sim.rest import RestRevisions
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage import objects
from tests.s3_server import S3Root

CLI = (sys.executable, "-c", "from binance_lake.cli.app import main; main()")
BTC_COUNT = "SELECT count(*) AS n FROM klines WHERE symbol = 'BTCUSDT'"
FIRST, LAST = dt.date(2023, 10, 25), dt.date(2023, 11, 3)  # a monthly file and daily ones
SYNC = {"symbols": "BTCUSDT,ETHUSDT", "start": FIRST.isoformat(), "end": LAST.isoformat()}


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A lake root of each kind: a directory, or a fresh s3:// prefix with its own state directory."""
    if request.param == "local":
        return str(tmp_path / "lake")
    s3: S3Root = request.getfixturevalue("s3_root")
    return s3.url


def truth(server: SimServer, dataset: str, symbol: str, interval: Interval | None) -> pa.Table:
    table = pa.concat_tables(
        [server.universe.day_table(Market.UM, dataset, symbol, interval, d) for d in iter_days(FIRST, LAST)]
    )
    return table.add_column(0, "symbol", pa.array([symbol] * table.num_rows, pa.string()))


def bucket_keys(s3: S3Root) -> list[str]:
    infos = s3.server.filesystem().get_file_info(
        pafs.FileSelector(f"{s3.server.bucket}/{s3.prefix}", recursive=True)
    )
    return sorted(i.path.split("/", 2)[2] for i in infos if i.type == pafs.FileType.File)


def test_sync_load_and_sql_give_the_simulators_rows_on_either_root(sim_server: SimServer, root: str) -> None:
    lake = Lake(root, settings=sim_server.settings())
    report = lake.sync(datasets="klines,fundingRate", intervals="1h", **SYNC)
    assert report.ok and report.execution is not None
    assert report.execution.ingested == len(report.plan.fetch) > 0
    for symbol in ("BTCUSDT", "ETHUSDT"):
        bars = lake.load("klines", symbols=symbol, interval="1h", start=FIRST, end=LAST, as_="arrow")
        expected = truth(sim_server, "klines", symbol, Interval.H1)
        assert bars.equals(expected)
        funding = lake.load("fundingRate", symbols=symbol, start=FIRST, end=LAST, as_="arrow")
        assert funding.equals(truth(sim_server, "fundingRate", symbol, None))
    counts = lake.sql(
        "SELECT symbol, market, interval, count(*) AS n FROM klines "
        f"WHERE open_time >= '{FIRST}' AND open_time < '{LAST + dt.timedelta(days=1)}' "
        "GROUP BY ALL ORDER BY symbol",
        as_="arrow",
    ).to_pylist()
    assert counts == [
        {
            "symbol": s,
            "market": "um",
            "interval": "1h",
            "n": truth(sim_server, "klines", s, Interval.H1).num_rows,
        }
        for s in ("BTCUSDT", "ETHUSDT")
    ]
    # A second sync has nothing left to fetch.
    again = lake.sync(datasets="klines,fundingRate", intervals="1h", **SYNC)
    assert again.ok and not again.plan.fetch


def test_an_s3_lake_keeps_files_in_the_bucket_and_state_local(sim_server: SimServer, s3_root: S3Root) -> None:
    lake = Lake(s3_root.url, settings=sim_server.settings())
    assert lake.root == s3_root.state_dir
    assert lake.sync(datasets="klines", intervals="1h", **SYNC).ok
    keys = bucket_keys(s3_root)
    partition = partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", FIRST)
    assert partition.posix in keys and "lake.duckdb" in keys  # the state snapshot beside the data
    assert any(k.startswith("raw/data/futures/um/monthly/klines/BTCUSDT/1h/") for k in keys)
    local = [p for p in s3_root.state_dir.rglob("*") if p.is_file()]
    assert not [p for p in local if p.suffix in (".parquet", ".zip")]  # data lives in the bucket only
    assert (s3_root.state_dir / "lake.duckdb").exists()
    with pytest.raises(UsageError, match="check does not read a lake on object storage"):
        lake.check()  # not yet: refused in one sentence rather than every partition reported gone
    # The daemon's report job puts its page in the bucket too.
    written = jobs.report(lake, lambda event: None, Metrics())
    assert "reports/report.html" in bucket_keys(s3_root) and written["bytes"] > 0
    # `status` counts the recorded objects' bytes (no bucket listing).
    status = {r["symbol"]: r for r in lake.status(as_="arrow").to_pylist()}
    assert status["BTCUSDT"]["partitions"] == 2 and status["BTCUSDT"]["bytes"] > 0


def test_a_reader_elsewhere_needs_only_the_bucket(
    sim_server: SimServer, s3_root: S3Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Lake(s3_root.url, settings=sim_server.settings())
    assert writer.sync(datasets="klines", intervals="1h", **SYNC).ok
    expected = writer.load("klines", symbols="BTCUSDT", interval="1h", start=FIRST, end=LAST, as_="arrow")
    # (No float sums: their last bits follow the order DuckDB's threads add in.)
    query = (
        "SELECT symbol, count(*) AS n, max(close) AS c, max(open_time) AS t FROM klines GROUP BY 1 ORDER BY 1"
    )
    expected_sql = writer.sql(query, as_="arrow")
    # Another machine: an empty state directory, the same bucket.
    monkeypatch.setenv("BINANCE_LAKE_STATE_DIR", str(tmp_path / "elsewhere"))
    reader = Lake(s3_root.url, settings=sim_server.settings())
    try:
        got = reader.load("klines", symbols="BTCUSDT", interval="1h", start=FIRST, end=LAST, as_="arrow")
        assert got.equals(expected)
        assert reader.sql(query, as_="arrow").equals(expected_sql)
        assert reader.root == tmp_path / "elsewhere" and not list((tmp_path / "elsewhere").rglob("*.parquet"))
        # The command line, on a third machine: `--root s3://…` and the AWS environment only.
        command = subprocess.run(
            [*CLI, "--root", s3_root.url, "query", BTC_COUNT, "--format", "json"],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                "HOME": str(tmp_path / "third-home"),  # the default state directory, under ~/.cache
                **s3_root.server.env(),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert command.returncode == 0, command.stderr
        assert json.loads(command.stdout)[0]["n"] == expected_sql.column("n")[0].as_py()
        assert (
            tmp_path
            / "third-home/.cache/binance-lake"
            / s3_root.server.bucket
            / s3_root.prefix
            / "lake.duckdb"
        ).exists()
    finally:
        objects.unmount(tmp_path / "elsewhere")


def test_an_object_the_state_does_not_record_is_never_read(sim_server: SimServer, s3_root: S3Root) -> None:
    lake = Lake(s3_root.url, settings=sim_server.settings())
    october_days = {"symbols": "BTCUSDT", "start": "2023-10-01", "end": "2023-10-31"}
    assert lake.sync(datasets="klines", intervals="1h", **october_days).ok
    before = lake.load("klines", interval="1h", as_="arrow", **october_days)
    assert before.num_rows == 31 * 24
    fs, base = s3_root.server.filesystem(), f"{s3_root.server.bucket}/{s3_root.prefix}"
    rows = before.drop_columns(["symbol"])
    # What a sync killed after an upload and before its record leaves: an object the state never recorded …
    november = partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2023, 11, 1))
    with fs.open_output_stream(f"{base}/{november.posix}") as out:
        shifted = rows.set_column(
            0, "open_time", pc.add(rows.column("open_time"), pa.scalar(dt.timedelta(days=31)))
        )
        pq.write_table(shifted.slice(0, 24), out)
    # … and a recorded object replaced by other bytes than the record says.
    october = partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", dt.date(2023, 10, 1))
    with fs.open_output_stream(f"{base}/{october.posix}") as out:
        pq.write_table(rows.slice(0, 3), out)
    after = lake.load("klines", symbols="BTCUSDT", interval="1h", start=FIRST, end=LAST, as_="arrow")
    assert after.num_rows == 0  # neither object's rows reach a reader: both are reported missing
    assert missing_of(after).gaps == (Gap("klines", "BTCUSDT", FIRST, LAST, "1h"),)
    # The next sync puts the recorded October back; the stray November object stays unread.
    assert lake.sync(datasets="klines", intervals="1h", **october_days).ok
    assert lake.load("klines", interval="1h", as_="arrow", **october_days).equals(before)


T0 = dt.datetime(2026, 11, 18, 6, 0, tzinfo=UTC)


@pytest.fixture
def moving_server() -> Iterator[SimServer]:
    with SimServer(Universe.build("small", now=T0), rest_revisions=RestRevisions()) as running:
        yield running


def test_update_reaches_the_last_closed_bar_on_either_root(moving_server: SimServer, root: str) -> None:
    lake = Lake(root, settings=moving_server.settings())
    assert lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start="2026-11-14", end="2026-11-17"
    ).ok
    assert lake.update().ok
    bars = lake.load(
        "klines", symbols="BTCUSDT", interval="1h", start="2026-11-14", end=T0.date(), as_="arrow"
    )
    assert bars.column("open_time")[-1].as_py() == T0 - dt.timedelta(hours=1)
    assert bars.num_rows == 4 * 24 + 6
    # Later, the archive replaces the REST days: the merge reads the object back and rewrites it.
    moving_server.universe.clock.set(T0 + dt.timedelta(days=2))
    assert lake.update().ok
    later = lake.load(
        "klines", symbols="BTCUSDT", interval="1h", start="2026-11-14", end="2026-11-19", as_="arrow"
    )
    assert later.num_rows == 6 * 24
    assert later.column("open_time").to_pylist() == sorted(set(later.column("open_time").to_pylist()))


def test_the_daemons_supervised_stream_child_opens_the_same_s3_lake(
    sim_server: SimServer, s3_root: S3Root
) -> None:
    """The daemon starts `binance-lake stream` with `ops.stream.child_environment`: the lake's root there is the
    state directory, and the child finds the bucket from that directory's marker, so it reads (and would write)
    the objects, not an empty local tree."""
    from binance_lake.ops.stream import child_environment

    lake = Lake(s3_root.url, settings=sim_server.settings())
    assert lake.sync(datasets="klines", intervals="1h", **SYNC).ok
    environment = child_environment(lake.settings)
    assert environment["BINANCE_LAKE_ROOT"] == str(s3_root.state_dir)
    environment.pop("BINANCE_LAKE_STATE_DIR", None)  # the child needs only its root
    code = (
        "from binance_lake.lake import Lake; lake = Lake(); "
        "print(lake.load('klines', symbols='BTCUSDT', interval='1h', "
        f"start='{FIRST}', end='{LAST}', as_='arrow').num_rows)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    expected = truth(sim_server, "klines", "BTCUSDT", Interval.H1).num_rows
    assert child.stdout.split() == [str(expected)]
    assert not [p for p in s3_root.state_dir.rglob("*.parquet")]  # what it read came from the bucket
