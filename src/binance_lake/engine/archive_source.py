"""The archive as a `Source`: zips from data.binance.vision verified against their `.CHECKSUM`, kept under
`<root>/raw/<archive key>`.

A file without a `.CHECKSUM` upstream (issue #469) is ingested with its sha256 computed locally and recorded as
"missing". A verified raw zip left by an interrupted run is reused instead of downloaded again; a lost
partition is rebuilt from its kept raw zip when that still has the sha256 that was ingested, and so is every
held file under `sync --rebuild` (which never downloads). Downloads resume a
`.part` with a Range request (`binance/archive_client.py`). In an object-storage lake the kept zip is uploaded
to the bucket once ingested and fetched back from there for a rebuild (storage/objects.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

from binance_lake.binance.archive_client import ArchiveClient
from binance_lake.core.errors import IntegrityError, NotFound, SourceError, StorageError
from binance_lake.engine.plan import PlannedFile, Reason
from binance_lake.engine.source import CHECKSUM_MISSING, CHECKSUM_VERIFIED, BytesProgress, Payload
from binance_lake.storage import objects

RAW_DIR = "raw"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _has_sha256(path: Path, sha256: str) -> bool:
    # The usual answer, no file, costs one stat here; only hashing goes to a thread (a hop per file is
    # two context switches and a GIL hand-off, which a 1,200-file sync pays 1,200 times otherwise).
    if not path.is_file():  # noqa: ASYNC240 -- one local stat, cheaper than the hop it saves
        return False
    return await asyncio.to_thread(lambda: sha256_of(path) == sha256)


class ArchiveSource:
    def __init__(self, client: ArchiveClient, root: Path, *, keep_raw: bool = True) -> None:
        self.client = client
        self.root = root
        self.keep_raw = keep_raw

    def raw_path(self, key: str) -> Path:
        return self.root / RAW_DIR / key

    def _payload(self, item: PlannedFile, path: Path, sha256: str, *, published: bool, sent: int) -> Payload:
        checksum = CHECKSUM_VERIFIED if published else CHECKSUM_MISSING
        return Payload(item.key, item.file, path, sha256=sha256, checksum=checksum, transferred=sent)

    async def reusable(self, item: PlannedFile) -> Payload | None:
        """A lost partition's file rebuilt from its kept raw zip, when the zip still has the sha256 that was
        verified and ingested: no request upstream at all."""
        sha = item.sha256
        if item.reason not in (Reason.PARTITION_LOST, Reason.REBUILD) or sha is None:
            return None
        path = self.raw_path(item.key)
        if not path.exists() and objects.located(path) is not None:
            # An object-storage lake keeps its raw zips in the bucket (`release`).
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(objects.fetch_file, path)
        if not await _has_sha256(path, sha):
            return None
        return self._payload(item, path, sha, published=item.entry.has_checksum is not False, sent=0)

    async def _expected_checksum(self, item: PlannedFile) -> str | None:
        if item.entry.has_checksum is False:
            return None
        try:
            return await self.client.fetch_checksum(item.key)
        except NotFound:
            return None  # a few files have no .CHECKSUM upstream (issue #469); recorded as "missing"

    async def fetch(self, item: PlannedFile, attempt: int, on_bytes: BytesProgress) -> Payload:
        if item.reason is Reason.REBUILD:
            # `sync --rebuild` never downloads: the kept zip changed since it was ingested (or vanished).
            raise SourceError(
                f"the kept raw zip of {item.key} is no longer the bytes that were ingested; "
                "a sync without --rebuild downloads it again"
            )
        path = self.raw_path(item.key)
        try:
            checksum = await self._expected_checksum(item)
            sent = 0
            # A verified raw file from an interrupted earlier run is reused instead of downloaded again.
            if checksum is None or not await _has_sha256(path, checksum):
                result = await self.client.download(
                    item.key, path, expected_sha256=checksum, progress=on_bytes
                )
                sent = result.size
        except IntegrityError:
            path.unlink(missing_ok=True)  # untrusted bytes never stay to be reused or ingested
            raise
        if checksum is not None:
            return self._payload(item, path, checksum, published=True, sent=sent)
        sha = await asyncio.to_thread(sha256_of, path)
        return self._payload(item, path, sha, published=False, sent=sent)

    def release(self, payload: Payload) -> None:
        if not self.keep_raw:
            payload.path.unlink(missing_ok=True)
        elif objects.located(payload.path) is not None:
            # An object-storage lake keeps the zip in the bucket, not on this disk; one that cannot be uploaded
            # stays here (the archive still has its bytes, nothing the lake needs is lost).
            with contextlib.suppress(StorageError):
                objects.put_file(payload.path, payload.path)
                payload.path.unlink(missing_ok=True)
