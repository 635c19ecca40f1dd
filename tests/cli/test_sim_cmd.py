"""`binance-lake sim serve`: prints the exports, serves, and rejects bad options with exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.sim.simhttp import fetch

_MAIN = "from binance_lake.cli.app import main; main()"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_bad_options_are_one_sentence_and_exit_2() -> None:
    for args in (["--universe", "huge"], ["--now", "yesterday"], ["--faults", "boom=1"], ["--port", "99999"]):
        result = _run("sim", "serve", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_serve_prints_exports_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _MAIN, "sim", "serve", "--now", "2025-01-01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        exports = dict(
            process.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(6)
        )
        archive = exports["BINANCE_LAKE_ARCHIVE_URL"]
        assert archive.startswith("http://127.0.0.1:")
        reply = fetch(archive + "/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12-30.zip")
        assert reply.status == 200
        assert (
            fetch(archive + "/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-01.zip").status
            == 404
        )
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "stopped" in err
