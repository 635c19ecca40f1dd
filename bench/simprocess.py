"""Start `binance-lake sim serve` in its own process for a benchmark, so the simulator never shares the
measured process's interpreter, and read the BINANCE_LAKE_* exports it prints."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading

MAIN = "from binance_lake.cli.app import main; main()"


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far: a child's is the difference
    around its run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_simulator(universe: str, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The server process and its settings environment (`BINANCE_LAKE_ARCHIVE_URL`, …); `extra` are more
    `sim serve` options."""
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "sim", "serve", "--universe", universe, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for _ in range(7):
        name, _, value = process.stdout.readline().removeprefix("export ").strip().partition("=")
        env[name] = value
    # Keep draining: a full pipe would block the server's event loop on its next write.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    if "BINANCE_LAKE_ARCHIVE_URL" not in env:
        process.kill()
        raise RuntimeError("the simulator did not print its address")
    return process, env


def stop_simulator(process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Stop the server as Ctrl-C would (SIGINT: it closes its sockets and cache cleanly); on a machine too
    loaded for it to finish within `timeout`, kill it, so that no benchmark leaves a server behind."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
