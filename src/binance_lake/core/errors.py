"""The exceptions binance-lake raises, and the `Transient` marker that decides retries.

Pure. Library exceptions (aiohttp, duckdb, zipfile, pyarrow) are translated into these once, at the edge
that called the library; nothing above that edge sees a foreign exception type.

    BinanceLakeError
    ├── SourceError              the archive, REST API or WebSocket did not give us what we asked for
    │   ├── NotFound             404: the object or symbol does not exist (upstream, now)
    │   ├── RateLimited *        429: back off for `retry_after` seconds
    │   ├── IpBanned             418: banned until `retry_after` has passed; do not retry sooner
    │   ├── Restricted           451: the service refuses this location
    │   ├── ServerError *        5xx or a malformed answer from the server
    │   ├── ConnectionFailed *   refused, reset, timed out, or the body ended early
    │   └── Stalled              no answer or byte from a host for `stall_timeout` seconds: the run gives up
    ├── IntegrityError           bytes arrived but cannot be trusted
    │   ├── ChecksumMismatch     sha256 of the zip differs from its .CHECKSUM
    │   └── UnsafeArchive        zip with a path in a member name, several members, or too large inflated
    ├── ParseError               bytes are trustworthy but do not match the dataset's format
    ├── StorageError             the lake's disk or database failed
    │   └── LakeLocked           another process is writing this lake
    ├── StreamError              a WebSocket stream failed for good
    └── UsageError               bad input from the user: one sentence, exit code 2

    * = also `Transient`: the same request may succeed if repeated later.

Warnings (not errors: the call still returns): `MissingDataWarning` (a `UserWarning`) when a load fills
columns of a dataset the lake has never held with nulls.
"""

from __future__ import annotations


class BinanceLakeError(Exception):
    """Base of every error binance-lake raises on purpose."""


class Transient:
    """Marker mixin: the operation may succeed if it is retried after a pause."""


class SourceError(BinanceLakeError):
    """An upstream service (archive, REST, WebSocket) did not deliver. `url` names what was asked."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class NotFound(SourceError):
    """The object does not exist upstream. Not retried: record it as missing."""


class RateLimited(SourceError, Transient):
    """HTTP 429. Wait `retry_after` seconds before the next request to the same host."""

    def __init__(self, message: str, *, url: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, url=url, status=429)
        self.retry_after = retry_after


class IpBanned(SourceError):
    """HTTP 418: the IP was banned after repeated 429s. Stop and wait `retry_after` seconds."""

    def __init__(self, message: str, *, url: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, url=url, status=418)
        self.retry_after = retry_after


class Restricted(SourceError):
    """HTTP 451: the service is unavailable from this location. Use a mirror (see the endpoint settings)."""


class ServerError(SourceError, Transient):
    """HTTP 5xx or an answer the server should not have given. Retried with backoff."""


class ConnectionFailed(SourceError, Transient):
    """The connection was refused, reset or timed out, or the body ended early. Retried with backoff."""


class Stalled(SourceError):
    """Requests were waiting but nothing (no answer, no byte) came from `host` for `timeout` seconds.

    Not `Transient`: it ends the whole run, whose state is recorded so the same command resumes it."""

    def __init__(self, host: str, timeout: float) -> None:
        super().__init__(
            f"gave up: no answer from {host} for {timeout:g} s (set stall_timeout / --stall-timeout); "
            "state is recorded, run the same command again to resume"
        )
        self.host = host
        self.timeout = timeout


class IntegrityError(BinanceLakeError):
    """Downloaded bytes that cannot be trusted. The file is never ingested.

    `fingerprint` identifies the bytes that failed (their sha256, size, ETag): the same fingerprint failing
    again on a fresh download is upstream's fault and quarantines the file; a different one is damage in
    transit, retried."""

    def __init__(self, message: str, *, fingerprint: str | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class ChecksumMismatch(IntegrityError):
    """The sha256 of the downloaded zip differs from the published `.CHECKSUM`."""

    def __init__(
        self,
        message: str,
        *,
        expected: str,
        actual: str,
        size: int | None = None,
        etag: str | None = None,
    ) -> None:
        super().__init__(message, fingerprint=f"sha256={actual} size={size} etag={etag} published={expected}")
        self.expected = expected
        self.actual = actual
        self.size = size
        self.etag = etag


class UnsafeArchive(IntegrityError):
    """A zip that could escape its directory or exhaust memory or disk when inflated."""


class ParseError(BinanceLakeError):
    """Bytes that do not match the dataset's documented format."""


class StorageError(BinanceLakeError):
    """The lake's files or its DuckDB database failed. Nothing already stored is lost."""


class LakeLocked(StorageError):
    """Another process holds the lake's write lock. Wait for it, or stop it."""


class SchemaTooNew(StorageError):
    """The lake's database was written by a newer binance-lake than this one. Upgrade binance-lake."""


class PostgresError(BinanceLakeError):
    """PostgreSQL refused a connection or a statement of an export (the server's first line); nothing of the
    failed batch was kept, and the same export resumes from what was."""


class StreamError(BinanceLakeError):
    """A WebSocket stream failed and could not be resumed."""


class UsageError(BinanceLakeError):
    """Bad input from the user. The message is one sentence saying what to change; exit code 2."""


class MissingDataWarning(UserWarning):
    """A load returned null columns for a dataset the lake has never held for the asked symbols."""


def is_transient(error: BaseException) -> bool:
    """True when retrying the failed operation later may succeed."""
    return isinstance(error, Transient)
