"""engine/cleanup.py and `binance-lake cleanup` against the simulator: after January's monthly file replaced
its daily files, the daily zips are what cleanup removes (with stale temporaries and ingested files' partial
downloads); `--raw` removes the ingested zips too; the lake's rows never change; a dry run removes nothing.
On an s3:// root (moto) the zips and the partition objects no record names are deleted in the bucket, and
nothing a record names is."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from binance_lake.core.timerange import UTC
from binance_lake.engine.archive_source import RAW_DIR
from binance_lake.engine.cleanup import ORPHAN, PARTIAL, RAW_ZIP, SUPERSEDED_ZIP, TEMPORARY
from binance_lake.engine.state import FileStatus
from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from tests.cli.runner import assert_one_sentence, run_cli
from tests.s3_server import S3Root

KWARGS = {
    "datasets": "klines",
    "symbols": "BTCUSDT",
    "intervals": "1h",
    "start": "2024-01-01",
    "end": "2024-01-31",
}


def lake_with_superseded(make_sim: Callable[..., SimServer], root: Path | str) -> tuple[Lake, SimServer]:
    server = make_sim(now=dt.datetime(2024, 2, 4, 12, tzinfo=UTC))  # January's monthly file comes on Feb 5
    lake = Lake(root, settings=server.settings())
    assert lake.sync(**KWARGS).ok  # type: ignore[arg-type]
    server.universe.clock.set(dt.datetime(2024, 2, 6, 12, tzinfo=UTC))
    assert lake.sync(**KWARGS).ok  # type: ignore[arg-type]
    return lake, server


def states(root: Path) -> dict[str, str]:
    with LakeDatabase(root).connect(read_only=True) as connection:
        return dict(connection.execute("SELECT key, status FROM file_state").fetchall())


def rows(lake: Lake) -> pa.Table:
    table: pa.Table = lake.load("klines", "BTCUSDT", "2024-01-01", "2024-01-31", interval="1h", as_="arrow")
    return table


def test_cleanup_frees_superseded_zips_and_temporaries(
    make_sim: Callable[..., SimServer], tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    lake, _ = lake_with_superseded(make_sim, root)
    before = rows(lake)
    recorded = states(root)
    superseded = {k for k, s in recorded.items() if s == FileStatus.SUPERSEDED}
    monthly = {k for k, s in recorded.items() if s == FileStatus.INGESTED}
    assert len(superseded) == 31 and len(monthly) == 1
    # what a killed writer leaves: a partition temporary, ingest scratch, a .part of a file ingested since,
    # and a .part of a file not ingested yet (resumable: kept)
    partition = next((root / "tables").rglob("*.parquet"))
    temporary = partition.with_name(f".{partition.name}.123.0123abcd.tmp")
    temporary.write_bytes(b"x" * 10)
    (root / ".ingest-1").mkdir()
    (root / ".ingest-1" / "part.csv").write_bytes(b"y" * 7)
    done_part = root / RAW_DIR / f"{next(iter(monthly))}.part"
    done_part.write_bytes(b"z" * 5)
    pending = root / RAW_DIR / "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02-07.zip.part"
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_bytes(b"w" * 3)

    dry = lake.cleanup(dry_run=True)
    assert {f.why for f in dry.freed} == {SUPERSEDED_ZIP, TEMPORARY, PARTIAL}
    assert all((root / f.path).exists() for f in dry.freed)  # a dry run removes nothing
    expected = sum((root / RAW_DIR / k).stat().st_size for k in superseded) + 10 + 7 + 5
    assert dry.bytes == expected

    done = lake.cleanup()
    assert done.bytes == expected and not any((root / f.path).exists() for f in done.freed)
    assert {f.path for f in done.freed if f.why == SUPERSEDED_ZIP} == {f"{RAW_DIR}/{k}" for k in superseded}
    assert pending.exists() and (root / RAW_DIR / next(iter(monthly))).exists()
    assert rows(lake).equals(before)
    assert lake.cleanup().freed == ()  # nothing left to free

    raw = lake.cleanup(raw=True)
    assert {f.why for f in raw.freed} == {RAW_ZIP} and len(raw.freed) == 1
    assert rows(lake).equals(before)
    assert lake.sync(**KWARGS, dry_run=True).plan.is_empty  # type: ignore[arg-type]


def test_cli_cleanup(make_sim: Callable[..., SimServer], tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _, server = lake_with_superseded(make_sim, root)
    env = {**server.settings_env(), "BINANCE_LAKE_ROOT": str(root)}
    dry = run_cli("cleanup", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would free" in dry.stdout and "in 31 paths" in dry.stdout and SUPERSEDED_ZIP in dry.stdout
    done = run_cli("cleanup", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["paths"] == 31 and summary["by_reason"][SUPERSEDED_ZIP]["paths"] == 31
    missing = run_cli("cleanup", env={**env, "BINANCE_LAKE_ROOT": str(tmp_path / "nothing")})
    assert_one_sentence(missing, 2, "nothing")


def bucket_sizes(s3: S3Root) -> dict[str, int]:
    base = f"{s3.server.bucket}/{s3.prefix}"
    infos = s3.server.filesystem().get_file_info(pafs.FileSelector(base, recursive=True))
    return {i.path[len(base) + 1 :]: i.size for i in infos if i.type == pafs.FileType.File}


def test_cleanup_on_an_s3_root_deletes_in_the_bucket_only_what_no_record_needs(
    make_sim: Callable[..., SimServer], s3_root: S3Root
) -> None:
    lake, server = lake_with_superseded(make_sim, s3_root.url)
    root = lake.root  # the local state directory
    before = rows(lake)
    recorded = states(root)
    superseded = {f"{RAW_DIR}/{k}" for k, s in recorded.items() if s == FileStatus.SUPERSEDED}
    (monthly,) = (f"{RAW_DIR}/{k}" for k, s in recorded.items() if s == FileStatus.INGESTED)
    objects_before = bucket_sizes(s3_root)
    assert superseded | {monthly} <= set(objects_before) and len(superseded) == 31
    partitions = {k for k in objects_before if k.startswith("tables/")}
    assert partitions
    # What a writer killed between an upload and its record leaves: an object no record names …
    orphan = "tables/klines/market=um/interval=1h/symbol=BTCUSDT/2024-02.parquet"
    fs, base = s3_root.server.filesystem(), f"{s3_root.server.bucket}/{s3_root.prefix}"
    with fs.open_output_stream(f"{base}/{orphan}") as out:
        pq.write_table(before.drop_columns(["symbol"]).slice(0, 5), out)
    # … and, in the state directory, a partition temporary and ingest scratch.
    temporary = root / "tables/klines/market=um/interval=1h/symbol=BTCUSDT/.2024-01.parquet.123.0123abcd.tmp"
    temporary.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_bytes(b"x" * 10)
    (root / ".ingest-1").mkdir()
    (root / ".ingest-1" / "part.csv").write_bytes(b"y" * 7)

    dry = lake.cleanup(dry_run=True)
    assert {f.why for f in dry.freed} == {SUPERSEDED_ZIP, ORPHAN, TEMPORARY}
    env = {
        **server.settings_env(),
        **s3_root.server.env(),
        "BINANCE_LAKE_ROOT": s3_root.url,
        "BINANCE_LAKE_STATE_DIR": str(s3_root.state_dir),
    }
    command = run_cli("cleanup", "--dry-run", "--format", "json", env=env)
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout)["freed"] == dry.summary()["freed"]
    assert {f.path for f in dry.freed if f.why == ORPHAN} == {orphan}
    assert set(bucket_sizes(s3_root)) == set(objects_before) | {orphan} and temporary.exists()
    orphan_size = bucket_sizes(s3_root)[orphan]
    expected = sum(objects_before[k] for k in superseded) + orphan_size + 10 + 7
    assert dry.bytes == expected

    done = lake.cleanup()
    assert done.bytes == expected
    left = bucket_sizes(s3_root)
    assert not superseded & set(left) and orphan not in left
    assert monthly in left and partitions <= set(left)  # what a record names stays
    assert not temporary.exists() and not (root / ".ingest-1").exists()
    assert rows(lake).equals(before)
    assert lake.cleanup().freed == ()

    raw = lake.cleanup(raw=True)
    assert [(f.path, f.why) for f in raw.freed] == [(monthly, RAW_ZIP)]
    assert monthly not in bucket_sizes(s3_root) and partitions <= set(bucket_sizes(s3_root))
    assert rows(lake).equals(before)
    assert lake.sync(**KWARGS, dry_run=True).plan.is_empty  # type: ignore[arg-type]
