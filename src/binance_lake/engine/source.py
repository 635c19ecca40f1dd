"""Where a sync's bytes come from: the `Source` protocol the executor is generic over, and the `Payload` it
hands to ingest.

A source turns a planned file into verified bytes on local disk. The executor owns everything that does not
depend on where bytes come from: bounded concurrency, the verify-attempt loop and its quarantine rule (the same
bytes failing twice are upstream's), failure and state recording, grouping for ingest, ingest, cancellation.
The archive (`engine/archive_source.py`) is the first source; REST and streams plug in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from binance_lake.engine.ingest import Verified
from binance_lake.engine.plan import PlannedFile

BytesProgress = Callable[[int], None]
"""Called with each count of bytes received, for the run's progress."""

CHECKSUM_VERIFIED = "verified"
CHECKSUM_MISSING = "missing"  # upstream publishes no checksum for this file (#469): sha256 computed locally


@dataclass(frozen=True, kw_only=True)
class Payload(Verified):
    """Verified bytes of one planned file, ready to ingest (a `Verified`, so ingest takes it as it is), with
    what the state record needs: the sha256 of the bytes, whether it was checked against a published one
    (`CHECKSUM_VERIFIED`) or only computed (`CHECKSUM_MISSING`), and how many bytes were transferred for it
    (0 when bytes already on disk were reused)."""

    sha256: str
    checksum: str
    transferred: int = 0


class Source(Protocol):
    """Plan items in, verified payloads out.

    `fetch` raises `IntegrityError` for bytes that cannot be trusted, with a `fingerprint` that identifies
    those bytes (the executor quarantines a file whose same fingerprint fails twice, and retries one that fails
    differently), and any other `BinanceLakeError` for a failure that ends this file's attempts in this run
    (recorded as failed, planned again next time). A source cleans up its own untrusted bytes before raising.
    """

    async def reusable(self, item: PlannedFile) -> Payload | None:
        """Bytes kept from an earlier run that can be ingested again without fetching (a lost partition
        rebuilt from a kept raw zip), or None."""
        ...

    async def fetch(self, item: PlannedFile, attempt: int, on_bytes: BytesProgress) -> Payload:
        """Fetch and verify `item` (`attempt` counts from 1), reporting bytes received to `on_bytes`."""
        ...

    def release(self, payload: Payload) -> None:
        """Called once `payload` is ingested and recorded: the source may delete its bytes, or keep them."""
        ...
