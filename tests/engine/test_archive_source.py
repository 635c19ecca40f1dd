"""The archive source's local half: raw paths, a lost partition rebuilt from its kept zip, and `--no-keep-raw`.
Downloads, checksums and their failures are exercised against the simulator (test_sync_sim.py and others)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path
from typing import cast

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.archive_source import RAW_DIR, ArchiveSource
from binance_lake.engine.plan import CatalogFile, PlannedFile, Reason
from binance_lake.engine.source import CHECKSUM_MISSING, CHECKSUM_VERIFIED

# These paths never reach the network: a client that is touched fails the test.
NO_CLIENT = cast(ArchiveClient, None)


def _item(
    root: Path, reason: Reason, *, data: bytes | None, sha: str | None, has_checksum: bool | None
) -> PlannedFile:
    file = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2024, 1, 1))
    if data is not None:
        path = root / RAW_DIR / file.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    entry = CatalogFile(file.key, file, 3, "etag", has_checksum=has_checksum)
    return PlannedFile(entry, reason, sha256=sha)


def test_a_lost_partition_is_rebuilt_from_the_kept_zip_when_its_sha256_still_matches(tmp_path: Path) -> None:
    source = ArchiveSource(NO_CLIENT, tmp_path)
    sha = hashlib.sha256(b"zip").hexdigest()
    item = _item(tmp_path, Reason.PARTITION_LOST, data=b"zip", sha=sha, has_checksum=True)
    payload = asyncio.run(source.reusable(item))
    assert payload is not None
    assert (payload.path, payload.sha256, payload.checksum, payload.transferred) == (
        source.raw_path(item.key),
        sha,
        CHECKSUM_VERIFIED,
        0,
    )
    unchecked = _item(tmp_path, Reason.PARTITION_LOST, data=b"zip", sha=sha, has_checksum=False)
    reused = asyncio.run(source.reusable(unchecked))
    assert reused is not None and reused.checksum == CHECKSUM_MISSING


def test_nothing_is_reused_unless_the_kept_zip_has_the_ingested_sha256(tmp_path: Path) -> None:
    source = ArchiveSource(NO_CLIENT, tmp_path)
    sha = hashlib.sha256(b"zip").hexdigest()
    changed = _item(tmp_path, Reason.PARTITION_LOST, data=b"other", sha=sha, has_checksum=True)
    assert asyncio.run(source.reusable(changed)) is None
    new = _item(tmp_path, Reason.NEW, data=b"zip", sha=sha, has_checksum=True)
    assert asyncio.run(source.reusable(new)) is None
    (tmp_path / RAW_DIR / new.key).unlink()
    gone = _item(tmp_path, Reason.PARTITION_LOST, data=None, sha=sha, has_checksum=True)
    assert asyncio.run(source.reusable(gone)) is None


def test_release_deletes_the_raw_zip_only_without_keep_raw(tmp_path: Path) -> None:
    sha = hashlib.sha256(b"zip").hexdigest()
    item = _item(tmp_path, Reason.PARTITION_LOST, data=b"zip", sha=sha, has_checksum=True)
    for keep_raw, survives in ((True, True), (False, False)):
        source = ArchiveSource(NO_CLIENT, tmp_path, keep_raw=keep_raw)
        payload = asyncio.run(source.reusable(item))
        assert payload is not None
        source.release(payload)
        assert payload.path.exists() is survives
