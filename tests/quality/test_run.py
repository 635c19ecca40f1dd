"""The check run (`quality/run.py`) against the simulator: incremental by default — a series unchanged since the
last check is carried forward with exactly the answers a full scan gives, a series whose partition changed (a
new record, or a file whose size or mtime no longer matches its record) is scanned again, `--full` scans all —
and lock-free: a check runs while another process holds the writer lock, and beside a real sync in another
process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from binance_lake.core.partitions import parse_partition_path
from binance_lake.lake import Lake
from binance_lake.quality.run import CheckReport
from binance_lake.sim.server import SimServer
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.inventory import PartitionRecord, partition_table, record_partitions
from binance_lake.storage.parquet import write_table_atomic

D = dt.date
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MONTHS = (D(2023, 2, 1), D(2023, 3, 31))  # March holds a maintenance window
ASK = {"datasets": "klines", "start": MONTHS[0], "end": MONTHS[1]}


@pytest.fixture
def lake(sim_server: SimServer, tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(settings=sim_server.settings(tmp_path / "lake"))
    assert lake.sync(datasets="klines", intervals="1h", symbols=SYMBOLS, start=MONTHS[0], end=MONTHS[1]).ok
    yield lake


def answers(report: CheckReport) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The findings and gaps of a run, as sorted rows (order and run are not part of the answer)."""
    findings = sorted(
        tuple(str(v) for v in row.values()) for row in report.findings.drop_columns(["message"]).to_pylist()
    )
    gaps = sorted(tuple(str(v) for v in row.values()) for row in report.gaps.to_pylist())
    return findings, gaps


def test_an_unchanged_lake_is_carried_forward_with_the_full_answers(
    lake: Lake, sim_server: SimServer
) -> None:
    now = sim_server.universe.clock.now()
    full = lake.check(**ASK, now=now)
    assert full.counts["series_scanned"] == 3 and full.counts["series_carried"] == 0
    assert {g["kind"] for g in full.gaps.to_pylist()} == {"maintenance"}
    again = lake.check(**ASK, now=now)
    assert again.counts["series_carried"] == 3 and again.counts["series_scanned"] == 0
    assert again.counts["files_scanned"] == 0
    assert answers(again) == answers(full)
    # Carried from a carried run: still the same answers.
    assert answers(lake.check(**ASK, now=now)) == answers(full)
    # Another scope (other bounds) is another fingerprint: scanned.
    assert (
        lake.check(datasets="klines", start=MONTHS[0], end=D(2023, 3, 15), now=now).counts["series_carried"]
        == 0
    )
    forced = lake.check(**ASK, now=now, full=True)
    assert forced.counts["series_scanned"] == 3 and answers(forced) == answers(full)


def test_a_changed_partition_rescans_its_series_only(lake: Lake, sim_server: SimServer) -> None:
    now = sim_server.universe.clock.now()
    lake.check(**ASK, now=now)
    database = LakeDatabase(lake.root)
    with database.connect(read_only=True) as connection:
        records = partition_table(connection)
    path = next(p for p in records.column("path").to_pylist() if "symbol=ETHUSDT" in p and "2023-03" in p)
    # A bar whose low is above its close, written and recorded as a sync would: ETHUSDT changed.
    table = lake.root.joinpath(path)
    rows = pq.read_table(table)
    low = rows.column("low").to_pylist()
    low[5] = float(rows.column("close")[5].as_py()) * 2
    rows = rows.set_column(rows.schema.get_field_index("low"), "low", pa.array(low, pa.float64()))
    write_table_atomic(table, rows.cast(pq.read_schema(table)))
    stat = table.stat()
    with database.connect() as connection:
        record_partitions(
            connection,
            [PartitionRecord(parse_partition_path(path), rows.num_rows, stat.st_size, stat.st_mtime_ns)],
        )
    report = lake.check(**ASK, now=now)
    assert report.counts["series_scanned"] == 1 and report.counts["series_carried"] == 2
    found = report.findings.to_pylist()
    assert {f["symbol"] for f in found} == {"ETHUSDT"} and "ohlc" in {f["rule"] for f in found}
    assert {g["kind"] for g in report.gaps.to_pylist()} == {"maintenance"}

    # A file that no longer matches its record (size or mtime) is not trusted: its series is scanned again.
    other = next(p for p in records.column("path").to_pylist() if "symbol=SOLUSDT" in p)
    os.utime(lake.root / other, ns=(time.time_ns(), time.time_ns()))
    touched = lake.check(**ASK, now=now)
    assert touched.counts["series_scanned"] == 1 and touched.counts["series_carried"] == 2
    assert answers(touched) == answers(report)


def test_check_runs_while_another_process_holds_the_writer_lock(lake: Lake, sim_server: SimServer) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from binance_lake.storage.database import WriterLock\n"
         "with WriterLock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)\n",
         str(lake.root)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        report = lake.check(**ASK, now=sim_server.universe.clock.now())
        assert report.ok and report.counts["series_scanned"] == 3
        assert lake.gaps(kind="maintenance", as_="arrow").num_rows == len(report.gaps)
    finally:
        holder.kill()
        holder.communicate()


def test_a_sync_in_another_process_runs_beside_checks(lake: Lake, sim_server: SimServer) -> None:
    now = sim_server.universe.clock.now()
    env = {**os.environ, **sim_server.settings_env(), "BINANCE_LAKE_ROOT": str(lake.root),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    sync = subprocess.Popen(
        [sys.executable, "-c", "from binance_lake.cli.app import main; main()", "sync", "--market", "um", "--datasets", "klines",
         "--intervals", "1h", "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT", "--start", "2022-06-01",
         "--end", "2023-01-31"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    checks: list[CheckReport] = []
    try:
        while sync.poll() is None or not checks:
            checks.append(lake.check(**ASK, now=now))
    finally:
        _, err = sync.communicate(timeout=300)
    assert sync.returncode == 0, err
    for report in checks:  # what the sync wrote is outside ASK's days: nothing of it is a finding
        assert report.ok, report.findings.to_pylist()
    after = lake.check(datasets="klines", end=MONTHS[1], now=now, full=True)
    errors = pc.equal(after.findings.column("severity"), "error")
    assert not pc.any(errors).as_py(), after.findings.filter(errors).to_pylist()


def test_asked_days_inside_a_monthly_partition_are_no_provenance_finding(
    lake: Lake, sim_server: SimServer
) -> None:
    # The partition's rows are all its days' rows, also those outside the asked days.
    report = lake.check(
        datasets="klines", start=D(2023, 3, 10), end=D(2023, 3, 12), now=sim_server.universe.clock.now()
    )
    assert report.ok, report.findings.to_pylist()


def test_raw_zips_unchanged_since_they_were_hashed_are_not_hashed_again(
    lake: Lake, sim_server: SimServer
) -> None:
    now = sim_server.universe.clock.now()
    first = lake.check(**ASK, now=now)
    zips = first.counts["raw_zips"]
    assert zips == 6 and first.ok
    again = lake.check(**ASK, now=now)
    assert (again.counts["raw_zips"], again.counts["raw_zips_unchanged"]) == (0, zips)
    # A zip written after the check that hashed it is hashed again, and what it found is carried after.
    zip_path = next((lake.root / "raw").rglob("*.zip"))
    data = bytearray(zip_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    damaged = lake.check(**ASK, now=now)
    assert damaged.counts["raw_zips"] == 1
    assert [f["rule"] for f in damaged.findings.to_pylist()] == ["raw_hash"]
    later = lake.check(**ASK, now=now)
    assert later.counts["raw_zips"] == 0 and [f["rule"] for f in later.findings.to_pylist()] == ["raw_hash"]
    assert lake.check(**ASK, now=now, full=True).counts["raw_zips"] == zips


def test_a_full_check_opens_each_partition_once(
    lake: Lake, sim_server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's own read of each file gives the integrity check its footer rows: no partition is opened
    a second time to count them."""
    import binance_lake.quality.integrity as integrity

    opened: list[Path] = []
    real = integrity.readable

    def counting(path: Path, *, deep: bool) -> tuple[int | None, str | None]:
        opened.append(path)
        return real(path, deep=deep)

    monkeypatch.setattr(integrity, "readable", counting)
    report = lake.check(**ASK, now=sim_server.universe.clock.now(), full=True)
    assert report.counts["files_scanned"] == report.counts["partitions"] > 0
    assert opened == []
    assert not [f for f in report.findings.to_pylist() if f["severity"] == "error"]


def test_damaged_and_gone_partitions_are_found_beside_sound_ones_without_deep(
    lake: Lake, sim_server: SimServer
) -> None:
    """Without `--deep` the scan is the only read: a partition whose footer cannot be read and one that is
    gone are each named (the first with what `readable` says of it), and the other partitions of their
    chunk are still scanned, with the answers a clean lake gives."""
    now = sim_server.universe.clock.now()
    clean = answers(lake.check(**ASK, now=now, full=True))
    tables = lake.root / "tables/klines/market=um/interval=1h"
    footer, gone = (tables / f"symbol={s}/2023-02.parquet" for s in SYMBOLS[:2])
    data = bytearray(footer.read_bytes())
    data[-12:-4] = b"\xff" * 8  # the footer's length and its tail
    footer.write_bytes(bytes(data))
    gone.unlink()
    report = lake.check(**ASK, now=now, full=True)
    relative = {p: str(p.relative_to(lake.root)) for p in (footer, gone)}
    errors = {(f["rule"], f["ref"]) for f in report.findings.to_pylist() if f["severity"] == "error"}
    assert errors == {("partition_damaged", relative[footer]), ("partition_gone", relative[gone])}
    message = next(f["message"] for f in report.findings.to_pylist() if f["rule"] == "partition_damaged")
    assert message.startswith(f"{relative[footer]} is damaged (") and "page" not in message
    assert report.counts["files_scanned"] == report.counts["partitions"] - 2
    # The partitions still there are scanned as before: their findings are the clean run's.
    kept = [row for row in answers(report)[0] if "2023-03" in " ".join(row) or SYMBOLS[2] in " ".join(row)]
    assert kept == [row for row in clean[0] if "2023-03" in " ".join(row) or SYMBOLS[2] in " ".join(row)]


def test_a_check_that_fails_meanwhile_stops_its_scans_after_the_current_chunk(
    lake: Lake, sim_server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scans run in a thread beside the rest of the check: when the rest fails (or is interrupted), the
    check ends after the chunk being scanned, not after scanning the whole lake."""
    import threading

    import binance_lake.quality.run as run

    started, calls = threading.Event(), []
    real = run.scan_group

    def slow_scan(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        started.set()
        time.sleep(1.0)  # the other thread fails meanwhile
        return real(*args, **kwargs)  # type: ignore[arg-type]

    def failing(*args: object, **kwargs: object) -> object:
        assert started.wait(30)
        raise RuntimeError("the walk of tables/ failed")

    monkeypatch.setattr(run, "CHUNK_ROWS", 1)  # one chunk per symbol: three chunks
    monkeypatch.setattr(run, "scan_group", slow_scan)
    monkeypatch.setattr(run, "stray_files", failing)
    with pytest.raises(RuntimeError, match="tables/ failed"):
        lake.check(**ASK, now=sim_server.universe.clock.now(), full=True)
    assert len(calls) == 1
