"""One export per --out at a time (export/out_lock.py), with two real processes: a second export into a
directory another process is exporting into waits briefly, then is refused in one sentence naming that
process; once the other run is done (or dies), the export goes ahead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from binance_lake.export import out_lock
from binance_lake.export.out_lock import OutLock, OutLocked
from binance_lake.lake import Lake

# A second process holding `--out`'s lock as an export does, until its stdin is closed.
HOLDER = """
import sys
from pathlib import Path
from binance_lake.export.out_lock import OutLock
with OutLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_by_another_process(out: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()


def qlib(lake: Lake, out: Path) -> object:
    return lake.export_qlib(freq="60min", out=out, start="2023-10-15", end="2023-10-17", symbols="BTCUSDT")


def csv(lake: Lake, out: Path) -> object:
    return lake.export_csv(out=out, start="2023-10-15", end="2023-10-17", intervals="1h", symbols="BTCUSDT")


@pytest.mark.parametrize("export", [qlib, csv], ids=["qlib", "csv"])
def test_a_second_export_into_the_same_out_waits_then_is_refused_naming_the_other(
    export_lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export: object
) -> None:
    monkeypatch.setattr(out_lock, "WAIT_SECONDS", 0.4)
    out = tmp_path / "out"
    with held_by_another_process(out) as other:
        started = time.monotonic()
        with pytest.raises(OutLocked) as refused:
            export(export_lake, out)  # type: ignore[operator]
        assert time.monotonic() - started >= 0.4  # it waited before refusing
        message = str(refused.value)
        assert f"another export (pid {other.pid}) is writing into {out}" in message
        assert "\n" not in message
        # Nothing was written beside the other run's files.
        assert not [p for p in out.rglob("*") if p.is_file() and p.name != out_lock.LOCK_NAME]
    export(export_lake, out)  # the other run is done: this one goes ahead
    assert [p for p in out.rglob("*") if p.is_file() and p.name != out_lock.LOCK_NAME]


def test_an_export_goes_ahead_when_the_other_finishes_within_the_wait(
    export_lake: Lake, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with held_by_another_process(out) as other:
        assert other.stdin is not None
        other.stdin.close()  # the other run finishes while this one waits (closing twice is harmless)
        report = qlib(export_lake, out)
    assert report.files_written > 0  # type: ignore[attr-defined]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with held_by_another_process(out) as other:
        other.kill()
        other.wait(timeout=30)
        with OutLock(out, wait=0):
            assert (out / ".binance-lake" / out_lock.LOCK_NAME).read_text() == str(os.getpid())
