"""Progress on stderr: bars follow bytes (not file counts), the listing shows directories and pages, and off a
terminal a plain or JSON line arrives every interval, even while nothing moves."""

from __future__ import annotations

import io
import json
import time

import pytest

from binance_lake.cli.progress import INTERVAL_ENV, ProgressDisplay, Shape, choose_shape, interval_from_env
from binance_lake.core.errors import UsageError
from binance_lake.core.progress import Phase, ProgressEvent


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(stream: io.StringIO, count: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = stream.getvalue().splitlines()
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} lines: {stream.getvalue()!r}")


def test_the_bar_shows_bytes_and_files_apart() -> None:
    # The bytes column was fed file counts: "2.9/5.7 kB" during a 141 MB download.
    out = FakeTerminal()
    with ProgressDisplay(Shape.BARS, stream=out) as shown:
        shown(
            ProgressEvent(Phase.SYNC, done=2900, total=5700, bytes_done=70_500_000, bytes_total=141_000_000)
        )
        assert shown._bars is not None
        shown._bars.refresh()
    text = out.getvalue()
    assert "70.5 MB of 141.0 MB" in text and "2900/5700 files" in text, text


def test_the_bar_shows_the_listing_phase() -> None:
    out = FakeTerminal()
    with ProgressDisplay(Shape.BARS, stream=out) as shown:
        shown(ProgressEvent(Phase.LISTING, done=12, total=40, pages=130, keys=52_000))
        assert shown._bars is not None
        shown._bars.refresh()
    assert "12/40 directories, 130 pages, 52,000 keys" in out.getvalue()


def test_off_a_terminal_a_line_arrives_every_interval_even_when_nothing_moves() -> None:
    out = io.StringIO()
    with ProgressDisplay(Shape.LINES, stream=out, interval=0.02) as shown:
        assert out.getvalue() == ""  # nothing to say before a phase starts
        shown(ProgressEvent(Phase.LISTING, done=2, total=6, pages=3, keys=90))
        wait_for(out, 2)
        shown(
            ProgressEvent(Phase.SYNC, total=4, bytes_total=2_000_000)
        )  # the listing's last state is printed when the sync starts
        lines = wait_for(out, 5)
    assert lines[0].startswith("listing: 2/6 directories, 3 pages, 90 keys")
    syncing = [line for line in lines if line.startswith("sync: ")]
    assert syncing and all("0/4 files, 0 bytes of 2.0 MB" in line for line in syncing), lines


def test_json_lines_on_request() -> None:
    out = io.StringIO()
    with ProgressDisplay(Shape.JSON, stream=out, interval=0.02) as shown:
        shown(ProgressEvent(Phase.SYNC, done=1, total=3, bytes_done=100, bytes_total=300, failures=1))
        wait_for(out, 2)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {e["event"] for e in events} == {"progress"} and {e["phase"] for e in events} == {"sync"}
    assert events[-1] | {"seconds": 0} == {
        "event": "progress",
        "phase": "sync",
        "files_done": 1,
        "files_total": 3,
        "bytes_done": 100,
        "bytes_total": 300,
        "rows": 0,
        "failures": 1,
        "seconds": 0,
    }


def test_the_shape_follows_the_stream_and_the_flag() -> None:
    assert choose_shape(as_json=False, stream=FakeTerminal()) is Shape.BARS
    assert choose_shape(as_json=False, stream=io.StringIO()) is Shape.LINES
    assert choose_shape(as_json=True, stream=FakeTerminal()) is Shape.JSON


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert interval_from_env() == 5.0
    monkeypatch.setenv(INTERVAL_ENV, "0.5")
    assert interval_from_env() == 0.5
    for bad in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with pytest.raises(UsageError, match=INTERVAL_ENV):
            interval_from_env()


def test_the_bar_shows_the_probe_and_quiet_shows_nothing() -> None:
    out = FakeTerminal()
    with ProgressDisplay(Shape.BARS, stream=out) as shown:
        shown(ProgressEvent(Phase.PROBING, done=7, total=15))
        assert shown._bars is not None
        shown._bars.refresh()
    assert "probing" in out.getvalue() and "7/15 files" in out.getvalue()
    quiet = io.StringIO()
    with ProgressDisplay(Shape.QUIET, stream=quiet, interval=0.01) as shown:
        shown(ProgressEvent(Phase.PROBING, done=7, total=15))
        shown(ProgressEvent(Phase.SYNC, done=1, total=2))
        time.sleep(0.05)
    assert quiet.getvalue() == ""  # the probe off a terminal stays silent, as it always was
