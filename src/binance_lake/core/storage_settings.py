"""Where a lake's files live when its root is object storage: `s3://bucket/prefix` and the `[storage]` settings.

A lake root may be `s3://bucket/prefix` (any S3-compatible store). Its partitions, raw zips and reports go to the
bucket; its state database `lake.duckdb` (with the writer lock, the live files and the daemon's log) stays in a
local state directory, by default `~/.cache/binance-lake/<bucket>/<prefix>`, and is uploaded to the bucket as a
snapshot after each writing run, so a reader elsewhere needs only the bucket (storage/objects.py).

`binance-lake.toml`:

    root = "s3://my-bucket/lake"
    [storage]
    endpoint_url = "http://127.0.0.1:9000"   # default: AWS itself (env AWS_ENDPOINT_URL)
    region = "eu-central-1"                  # env AWS_REGION, AWS_DEFAULT_REGION
    state_dir = "/var/lib/binance-lake/lake" # env BINANCE_LAKE_STATE_DIR

Credentials are never settings here: the store's client reads the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
(/ AWS_SESSION_TOKEN, ~/.aws) itself. Pure: no I/O, no client.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from binance_lake.core.errors import UsageError

OBJECT_SCHEMES = ("s3",)

STATE_DIR_ENV = "BINANCE_LAKE_STATE_DIR"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
STORAGE_KEYS = ("endpoint_url", "region", "state_dir")


@dataclass(frozen=True)
class StorageSettings:
    """The object store of a lake whose root is `s3://…` (`url` None: a local lake, nothing else is used)."""

    url: str | None = None
    """The lake root on object storage, `s3://bucket/prefix` (normalised: no trailing slash)."""

    endpoint_url: str | None = None
    """The S3 endpoint (None: AWS). `[storage] endpoint_url`, env `AWS_ENDPOINT_URL`."""

    region: str | None = None
    """The bucket's region (None: the client's default). `[storage] region`, env `AWS_REGION`."""

    state_dir: Path | None = None
    """Where `lake.duckdb` of an s3:// lake lives. `[storage] state_dir`, env `BINANCE_LAKE_STATE_DIR`."""

    @property
    def bucket(self) -> str:
        return parse_object_url(self.url or "")[0]

    @property
    def prefix(self) -> str:
        return parse_object_url(self.url or "")[1]

    def __str__(self) -> str:
        if self.url is None:
            return "local"
        return ", ".join(f"{name}={value}" for name, value in vars(self).items() if value is not None)


def is_object_url(text: str | Path) -> bool:
    return isinstance(text, str) and text.split("://", 1)[0].lower() in OBJECT_SCHEMES and "://" in text


def parse_object_url(text: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix` (prefix may be empty); anything else is a `UsageError`."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() not in OBJECT_SCHEMES or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"an object-storage lake root must look like s3://bucket/prefix, not {text!r}")
    prefix = parts.path.strip("/")
    if any(piece in ("", ".", "..") for piece in prefix.split("/")) and prefix:
        raise UsageError(f"the prefix of the lake root {text!r} has an empty, '.' or '..' part")
    return parts.netloc, prefix


def normalize_url(text: str) -> str:
    bucket, prefix = parse_object_url(text)
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def default_state_dir(url: str, home: Path | None = None) -> Path:
    """`~/.cache/binance-lake/<bucket>/<prefix>`: one local state directory per object-storage lake."""
    bucket, prefix = parse_object_url(url)
    base = (home or Path.home()) / ".cache" / "binance-lake" / bucket
    return base / prefix if prefix else base


def storage_values(table: object, where: str) -> dict[str, object]:
    """The `[storage]` table of the config file as `StorageSettings` field values, checked."""
    if not isinstance(table, dict):
        raise UsageError(f"[storage] in {where} must be a table of {', '.join(STORAGE_KEYS)}")
    values: dict[str, object] = {}
    for key, value in table.items():
        if key not in STORAGE_KEYS:
            raise UsageError(
                f"unknown key {key!r} in [storage] of {where} (known: {', '.join(STORAGE_KEYS)})"
            )
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{key} in [storage] of {where} must be a non-empty string")
        values[key] = Path(value).expanduser() if key == "state_dir" else value.strip()
    return values


def check_endpoint(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"the storage endpoint_url ({ENDPOINT_ENV}) must be an http(s):// URL, not {value!r}"
        )
    return value.rstrip("/")


def resolve_storage(
    root: str | Path | None,
    file_values: Mapping[str, object],
    environ: Mapping[str, str],
    home: Path | None = None,
) -> tuple[Path | None, StorageSettings]:
    """The local root and storage settings for a root as given: an `s3://` root becomes its state directory
    (environment > `[storage]` > the default under ~/.cache) and `url`; a local root keeps `url` None. The
    endpoint and region come from the environment, then `[storage]`. Returns (None, …) for a root not given."""
    storage = StorageSettings(**file_values)  # type: ignore[arg-type]
    if environ.get(ENDPOINT_ENV):
        storage = replace(storage, endpoint_url=environ[ENDPOINT_ENV])
    region = next((environ[name] for name in REGION_ENVS if environ.get(name)), None)
    if region:
        storage = replace(storage, region=region)
    if environ.get(STATE_DIR_ENV):
        storage = replace(storage, state_dir=Path(environ[STATE_DIR_ENV]).expanduser())
    if storage.endpoint_url is not None:
        storage = replace(storage, endpoint_url=check_endpoint(storage.endpoint_url))
    if root is None:
        return None, storage
    if not is_object_url(root):
        return Path(root).expanduser(), replace(storage, url=None)
    url = normalize_url(str(root))
    state = storage.state_dir or default_state_dir(url, home)
    return state, replace(storage, url=url, state_dir=state)
