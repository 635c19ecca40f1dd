"""moto's S3 server on a free loopback port, one per session, for the object-storage lake tests.

`moto_s3` starts `moto_server -H 127.0.0.1 -p PORT` as a subprocess (stopped, by its pid, after the session),
creates a bucket, and sets the AWS environment every client of the tests reads (dummy credentials, the
endpoint, a region). `s3_root` is a fresh `s3://bucket/<prefix>` per test with its own state directory.
Without moto (tools/components/50-moto.sh, or the `dev` extra) the tests skip, and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components import require

BUCKET = "lake-tests"
INSTALL = "pip install 'moto[server]'"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def moto_binary() -> Path | None:
    found = Path(sys.executable).with_name("moto_server")
    if found.exists():
        return found
    which = shutil.which("moto_server")
    return Path(which) if which else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class MotoS3:
    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        return {**ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def filesystem(self):  # type: ignore[no-untyped-def]
        import pyarrow.fs as pafs

        host = self.endpoint.removeprefix("http://")
        return pafs.S3FileSystem(
            endpoint_override=host, scheme="http", region="us-east-1", allow_bucket_creation=True
        )


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    binary = moto_binary()
    assert binary is not None
    port = _free_port()
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    return process, endpoint


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    require(moto_binary() is not None, "moto's S3 server (moto_server)", INSTALL)
    process, endpoint = start_moto()
    saved = {name: os.environ.get(name) for name in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**ENV, "AWS_ENDPOINT_URL": endpoint})
    try:
        server = MotoS3(endpoint, BUCKET)
        server.filesystem().create_dir(BUCKET)
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class S3Root:
    """A fresh lake root on the moto server: its url, its local state directory."""

    url: str
    state_dir: Path
    server: MotoS3

    @property
    def prefix(self) -> str:
        return self.url.split("/", 3)[3]


@pytest.fixture
def s3_root(moto_s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Root]:
    state = tmp_path / "state"
    monkeypatch.setenv("BINANCE_LAKE_STATE_DIR", str(state))
    root = S3Root(f"s3://{moto_s3.bucket}/t-{uuid.uuid4().hex[:10]}", state, moto_s3)
    yield root
    from binance_lake.storage import objects

    objects.unmount(state)
