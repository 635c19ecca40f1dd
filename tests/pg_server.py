"""A throw-away PostgreSQL 15 cluster for the export tests, one per session.

initdb (`--no-sync`) on a temp dir and `pg_ctl start` on a free loopback port, both as the `postgres`
user (the server refuses to run as root; its directories must be owned by it), then `pg_ctl stop`
(facts and traps: ../shared/reference/components.md). The binaries come from Debian's `postgresql-15`
(tools/components/10-postgresql.sh); without them the tests skip, and fail in CI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components import require

BIN = Path(os.environ.get("BINANCE_LAKE_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL = "apt-get install -y postgresql-15"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    return [*(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []), *command]


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


@dataclasses.dataclass
class Cluster:
    """A running throw-away cluster that a test may stop and start again (same port and DSN)."""

    data: Path
    log: Path
    options: str
    dsn: str

    def start(self) -> None:
        started = subprocess.run(
            _as_postgres(
                str(BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-o",
                self.options,
                "start",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed: {started.stderr} {self.log.read_text() if self.log.exists() else ''}"
            )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
            capture_output=True,
            check=False,
        )


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """Start a throw-away cluster; yield it (its DSN names the `postgres` database); stop and delete it."""
    # Not under pytest's tmp dir: /tmp/pytest-of-root is private to root, and postgres must reach its dirs.
    base = Path(tempfile.mkdtemp(prefix="bl-pg-", dir="/tmp"))
    data, sockets, log = base / "data", base / "sock", base / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    try:
        init = subprocess.run(
            _as_postgres(
                str(BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "--no-sync",
                "-E",
                "UTF8",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr}")
        port = _free_port()
        # A throw-away cluster: no fsync (what a test or benchmark measures is our side, not the disk's).
        options = f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        cluster = Cluster(data, log, options, f"postgresql://postgres@127.0.0.1:{port}/postgres")
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throw-away cluster; yield the DSN of its `postgres` database; stop and delete it."""
    with postgres_cluster() as cluster:
        yield cluster.dsn


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The DSN of a running PostgreSQL 15 server's `postgres` database (trust auth, loopback only)."""
    require(available(), "PostgreSQL 15", INSTALL)
    require(
        importlib.util.find_spec("psycopg") is not None, "psycopg 3", "pip install 'binance-lake[postgres]'"
    )
    with running_postgres() as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server for one test; dropped after it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    yield pg_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
