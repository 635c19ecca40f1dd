"""The executor is generic over a `Source`: an in-memory fake source (zips made with the simulator's renderer)
drives the verify-attempt loop, the quarantine rule, failure recording, reuse and release, with no archive."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.errors import IntegrityError, NotFound
from binance_lake.core.partitions import partitions_of
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine import executor as executor_module
from binance_lake.engine.executor import VERIFY_ATTEMPTS, ExecutionReport, Executor
from binance_lake.engine.plan import CatalogFile, Plan, PlannedFile, Reason
from binance_lake.engine.source import CHECKSUM_MISSING, CHECKSUM_VERIFIED, BytesProgress, Payload, Source
from binance_lake.engine.state import recorded
from binance_lake.sim.render import zip_bytes
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.schema import FileStatus, ensure_schema

HOUR_MS = 3_600_000

Behaviour = Callable[[int], bytes | Exception]
"""What the fake source does on attempt n: the zip bytes to hand over, or the error to raise."""


def _daily(day: int) -> ArchiveFile:
    return ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2024, 1, day))


def _zip(file: ArchiveFile) -> bytes:
    day = file.first_day
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    lines = [
        f"{start + h * HOUR_MS},100.0,101.0,99.0,100.0,1.5,{start + (h + 1) * HOUR_MS - 1},10.0,3,0.5,5.0,0"
        for h in range(24)
    ]
    csv = ("\n".join(lines) + "\n").encode()
    return zip_bytes(file.file_name.removesuffix(".zip") + ".csv", csv)


def _serves(file: ArchiveFile) -> Behaviour:
    return lambda _: _zip(file)


def _bad(fingerprint: str) -> IntegrityError:
    return IntegrityError(f"bytes {fingerprint} do not verify", fingerprint=fingerprint)


@dataclass
class FakeSource:
    """Payloads are local zip files written under `root`; each key's behaviour is scripted per attempt."""

    root: Path
    behaviours: dict[str, Behaviour]
    kept: dict[str, bytes] = field(default_factory=dict)
    attempts: dict[str, list[int]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)

    def _payload(self, item: PlannedFile, data: bytes, sent: int) -> Payload:
        path = self.root / "fake" / item.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        return Payload(item.key, item.file, path, sha256=sha, checksum=CHECKSUM_VERIFIED, transferred=sent)

    async def reusable(self, item: PlannedFile) -> Payload | None:
        data = self.kept.get(item.key)
        return None if data is None else self._payload(item, data, 0)

    async def fetch(self, item: PlannedFile, attempt: int, on_bytes: BytesProgress) -> Payload:
        self.attempts.setdefault(item.key, []).append(attempt)
        await asyncio.sleep(0)
        outcome = self.behaviours[item.key](attempt)
        if isinstance(outcome, Exception):
            raise outcome
        on_bytes(len(outcome))
        return self._payload(item, outcome, len(outcome))

    def release(self, payload: Payload) -> None:
        self.released.append(payload.key)


def _plan(*days: int, reason: Reason = Reason.NEW) -> Plan:
    files = [_daily(d) for d in days]
    entries = [PlannedFile(CatalogFile(f.key, f, 1000, f"etag-{f.key}"), reason) for f in files]
    return Plan(fetch=tuple(entries), held=0, quarantined=())


def _run(root: Path, source: Source, plan: Plan) -> tuple[LakeDatabase, ExecutionReport]:
    database = LakeDatabase(root)
    ensure_schema(database)
    report = asyncio.run(Executor(source, database, root, concurrency=4).run(plan))
    return database, report


def _states(database: LakeDatabase) -> dict[str, FileStatus]:
    with database.connect() as connection:
        return {key: held.status for key, held in recorded(connection).items()}


def test_an_executor_runs_with_any_source_and_ingests_its_payloads(tmp_path: Path) -> None:
    files = [_daily(d) for d in (1, 2)]
    source = FakeSource(tmp_path, {f.key: _serves(f) for f in files})
    database, report = _run(tmp_path, source, _plan(1, 2))
    assert report.ok and report.ingested == 2 and report.rows == 48
    assert report.bytes == sum(len(_zip(f)) for f in files)
    assert _states(database) == {f.key: FileStatus.INGESTED for f in files}
    assert sorted(source.released) == sorted(f.key for f in files)
    (partition,) = partitions_of(files[0])
    assert pq.read_table(tmp_path / partition.path).num_rows == 48


def test_transient_failures_are_retried_and_the_sha256_of_the_payload_is_recorded(tmp_path: Path) -> None:
    file = _daily(1)

    def twice_bad(attempt: int) -> bytes | Exception:
        return _bad(f"transit-{attempt}") if attempt <= 2 else _zip(file)

    source = FakeSource(tmp_path, {file.key: twice_bad})
    database, report = _run(tmp_path, source, _plan(1))
    assert report.ok
    assert source.attempts[file.key] == [1, 2, 3]
    with database.connect() as connection:
        row = connection.execute(
            "SELECT status, attempts, sha256, checksum FROM file_state WHERE key = ?", [file.key]
        ).fetchone()
    assert row == (FileStatus.INGESTED, 3, hashlib.sha256(_zip(file)).hexdigest(), CHECKSUM_VERIFIED)


def test_the_same_bytes_failing_twice_are_quarantined(tmp_path: Path) -> None:
    file = _daily(1)
    source = FakeSource(tmp_path, {file.key: lambda _: _bad("upstream")})
    database, report = _run(tmp_path, source, _plan(1))
    assert source.attempts[file.key] == [1, 2]
    (failure,) = report.failures
    assert failure.quarantined
    assert _states(database) == {file.key: FileStatus.QUARANTINED}
    with database.connect() as connection:
        (fingerprint,) = connection.execute("SELECT failed_bytes FROM file_state").fetchone() or (None,)
    assert fingerprint == "upstream"


def test_bytes_that_differ_each_time_fail_but_are_not_quarantined(tmp_path: Path) -> None:
    file = _daily(1)
    source = FakeSource(tmp_path, {file.key: lambda attempt: _bad(f"transit-{attempt}")})
    database, report = _run(tmp_path, source, _plan(1))
    assert source.attempts[file.key] == list(range(1, VERIFY_ATTEMPTS + 1))
    (failure,) = report.failures
    assert not failure.quarantined
    assert _states(database) == {file.key: FileStatus.FAILED}


def test_bytes_that_failed_in_an_earlier_run_quarantine_on_the_first_repeat(tmp_path: Path) -> None:
    file = _daily(1)
    first = FakeSource(tmp_path, {file.key: lambda attempt: _bad(f"transit-{attempt}")})
    _run(tmp_path, first, _plan(1))
    last = f"transit-{VERIFY_ATTEMPTS}"  # recorded as the failed bytes of the first run
    again = FakeSource(tmp_path, {file.key: lambda _: _bad(last)})
    _, report = _run(tmp_path, again, _plan(1, reason=Reason.UNFINISHED))
    assert again.attempts[file.key] == [1]
    assert report.failures[0].quarantined


def test_other_errors_end_the_file_after_one_attempt_as_failed(tmp_path: Path) -> None:
    good, gone = _daily(1), _daily(2)
    source = FakeSource(
        tmp_path, {good.key: _serves(good), gone.key: lambda _: NotFound("no such file upstream")}
    )
    database, report = _run(tmp_path, source, _plan(1, 2))
    assert source.attempts[gone.key] == [1]
    assert [f.key for f in report.failures] == [gone.key]
    # The month's other file is still ingested once every file of its group is settled.
    assert _states(database) == {good.key: FileStatus.INGESTED, gone.key: FileStatus.FAILED}


def test_a_reusable_payload_is_ingested_without_fetching(tmp_path: Path) -> None:
    file = _daily(1)

    def never(_: int) -> bytes | Exception:
        raise AssertionError("fetched although reusable")

    source = FakeSource(tmp_path, {file.key: never}, kept={file.key: _zip(file)})
    database, report = _run(tmp_path, source, _plan(1, reason=Reason.PARTITION_LOST))
    assert report.ok and report.bytes == 0
    assert file.key not in source.attempts
    assert _states(database) == {file.key: FileStatus.INGESTED}


def test_a_cancelled_fetch_is_recorded_as_failed_for_the_next_run(tmp_path: Path) -> None:
    file = _daily(1)

    class Hanging(FakeSource):
        async def fetch(self, item: PlannedFile, attempt: int, on_bytes: BytesProgress) -> Payload:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    database = LakeDatabase(tmp_path)
    ensure_schema(database)

    async def cancelled() -> None:
        task = asyncio.ensure_future(Executor(Hanging(tmp_path, {}), database, tmp_path).run(_plan(1)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert _states(database) == {file.key: FileStatus.FAILED}


def test_payload_checksum_status_is_what_the_state_records(tmp_path: Path) -> None:
    file = _daily(1)

    class Unchecked(FakeSource):
        def _payload(self, item: PlannedFile, data: bytes, sent: int) -> Payload:
            payload = super()._payload(item, data, sent)
            return Payload(
                payload.key, payload.file, payload.path, sha256=payload.sha256, checksum=CHECKSUM_MISSING
            )

    database, _ = _run(tmp_path, Unchecked(tmp_path, {file.key: _serves(file)}), _plan(1))
    with database.connect() as connection:
        assert connection.execute("SELECT checksum FROM file_state").fetchone() == (CHECKSUM_MISSING,)


def test_partitions_ready_while_the_ingest_worker_is_busy_are_ingested_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monthly partitions that are ready while every ingest worker is busy go to the next free worker in one
    `ingest_many` call; a file of such a batch that verifies but cannot be parsed is quarantined alone."""
    files = [
        ArchiveFile(Market.UM, Cadence.DAILY, "klines", f"S{i}USDT", Interval.H1, dt.date(2024, 1, 1))
        for i in range(12)
    ]
    behaviours = {f.key: _serves(f) for f in files}
    bad = files[7]
    behaviours[bad.key] = lambda _: zip_bytes(bad.file_name.removesuffix(".zip") + ".csv", b"1,2,3\n")
    batches: list[int] = []
    real = executor_module.ingest_many

    def spy(root: Path, groups: Any, published: Any, **options: Any) -> Any:
        batches.append(len(groups))
        return real(root, groups, published, **options)

    monkeypatch.setattr(executor_module, "ingest_many", spy)
    plan = Plan(
        fetch=tuple(PlannedFile(CatalogFile(f.key, f, 1000, f"etag-{f.key}"), Reason.NEW) for f in files),
        held=0,
        quarantined=(),
    )
    database = LakeDatabase(tmp_path)
    ensure_schema(database)
    source = FakeSource(tmp_path, behaviours)
    executor = Executor(source, database, tmp_path, concurrency=16, ingest_workers=1)
    report = asyncio.run(executor.run(plan))
    assert max(batches) > 1 and sum(batches) == len(files)
    assert report.ingested == len(files) - 1 and report.rows == 24 * (len(files) - 1)
    assert [(f.key, f.quarantined) for f in report.failures] == [(bad.key, True)]
    states = _states(database)
    assert states.pop(bad.key) is FileStatus.QUARANTINED
    assert set(states.values()) == {FileStatus.INGESTED}
    for file in files:
        (partition,) = partitions_of(file)
        assert (tmp_path / partition.path).exists() is (file != bad)
    assert sorted(source.released) == sorted(f.key for f in files if f != bad)


def test_bytes_fetched_again_do_not_push_the_progress_past_the_plan(tmp_path: Path) -> None:
    """A body that breaks off, or fails its checksum, comes again from its start; each file's bytes count
    toward the progress once, so `bytes_done` ends at the plan's bytes, never above. A kept zip, not fetched,
    counts as whole too."""
    broken, fine, kept = _daily(1), _daily(2), _daily(3)
    data = {f.key: _zip(f) for f in (broken, fine, kept)}

    class Chunked(FakeSource):
        async def fetch(self, item: PlannedFile, attempt: int, on_bytes: BytesProgress) -> Payload:
            self.attempts.setdefault(item.key, []).append(attempt)
            body = data[item.key]
            half = len(body) // 2
            on_bytes(half)
            await asyncio.sleep(0)
            if item.key == broken.key and attempt < 3:
                raise _bad(f"transit-{attempt}")  # all of it arrived, damaged; then again from the start
            on_bytes(len(body) - half)
            return self._payload(item, body, len(body))

    events: list[Any] = []
    plan = Plan(
        fetch=tuple(
            PlannedFile(CatalogFile(f.key, f, len(data[f.key]), f"etag-{f.key}"), Reason.NEW)
            for f in (broken, fine, kept)
        ),
        held=0,
        quarantined=(),
    )
    database = LakeDatabase(tmp_path)
    ensure_schema(database)
    source = Chunked(tmp_path, {}, kept={kept.key: data[kept.key]})
    report = asyncio.run(Executor(source, database, tmp_path, progress=events.append).run(plan))
    assert report.ok and source.attempts[broken.key] == [1, 2, 3]
    total = sum(len(body) for body in data.values())
    assert events[-1].bytes_total == total
    assert [e.bytes_done for e in events] == sorted(e.bytes_done for e in events)
    assert max(e.bytes_done for e in events) == events[-1].bytes_done == total
