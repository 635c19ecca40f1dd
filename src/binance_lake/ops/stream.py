"""The daemon's supervised stream: `binance-lake stream …` as a child process, restarted when it dies.

`[stream]` in binance-lake.toml holds the `stream` command's options (`symbols`, `all`, `channels`, `market`,
`all_liquidations`, `redis`, `postgres`, `flush_interval`, `compact_interval`, `silence_timeout`; `_` or `-`),
plus the supervisor's own `restart_min` / `restart_max` (seconds, default 1 and 300) and `pause_after` (how
long a daemon job waits for the writer lock the stream holds before it pauses the stream, default 60). Without the table the
daemon streams nothing.

A child process rather than a thread: a crash, a leak or a hung event loop in the collector cannot take the
scheduler down with it, the kernel reclaims everything it held (sockets, the writer lock) when it dies, and it
is the very command a user runs by hand, with its own live status file (`monitor` shows it) and JSON log
(`logs/stream.jsonl`). The child gets the daemon's settings through their environment variables.

Restarts: when the child exits while the daemon runs, it is started again after an exponential backoff with
jitter (`backoff`: `restart_min · 2^n`, capped at `restart_max`, the second half of it random so that several
daemons do not reconnect in step); a child that ran `HEALTHY_SECONDS` resets `n`. A child refused the writer lock (today's
collector needs it for its whole run, so it cannot start while a daemon job or a manual sync holds it) is not
a crash: it is started again once no daemon job runs, after the shortest delay, without growing it. A child that exits 2 (its options are wrong) is not restarted: the same options would fail again. Stopping sends SIGINT (the collector's
clean stop: buffered rows are flushed and compacted) and waits, then SIGKILL after `STOP_SECONDS`.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import CONFIG_ENV, ENV_NAMES, Settings

_FLAG, _TEXT, _NUMBER = "flag", "text", "number"

OPTIONS: Mapping[str, str] = {
    "market": _TEXT,
    "symbols": _TEXT,
    "all": _FLAG,
    "channels": _TEXT,
    "all_liquidations": _FLAG,
    "redis": _TEXT,
    "postgres": _TEXT,
    "flush_interval": _NUMBER,
    "compact_interval": _NUMBER,
    "silence_timeout": _NUMBER,
}
"""The `[stream]` keys passed to `binance-lake stream` as `--key value` (flags as `--key`)."""

SUPERVISOR: Mapping[str, float] = {"restart_min": 1.0, "restart_max": 300.0, "pause_after": 60.0}
"""The supervisor's own keys and their defaults (seconds)."""

HEALTHY_SECONDS = 60.0
"""A child that ran this long before it died restarts after the shortest delay again."""

STOP_SECONDS = 30.0
"""How long `stop` waits for the child's clean exit before it kills it."""

USAGE_EXIT = 2
LOG_NAME = "stream.jsonl"
OUTPUT_NAME = "stream.out"
LOCKED_WORDS = "is writing the lake"
"""In the sentence of a command refused the writer lock (`storage.database.WriterLock`, `LakeLocked`)."""


@dataclass(frozen=True)
class StreamConfig:
    """The checked `[stream]` table: the command's arguments and the restart delays."""

    arguments: tuple[str, ...]
    restart_min: float = SUPERVISOR["restart_min"]
    restart_max: float = SUPERVISOR["restart_max"]
    pause_after: float = SUPERVISOR["pause_after"]


def parse_stream(table: Mapping[str, object]) -> StreamConfig | None:
    """The `[stream]` table as a `StreamConfig`, or None when there is none; bad keys are one sentence."""
    if not table:
        return None
    arguments: list[str] = []
    delays = dict(SUPERVISOR)
    for raw, value in table.items():
        key = raw.replace("-", "_")
        if key in SUPERVISOR:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UsageError(f"{raw} in [stream] must be a positive number of seconds, not {value!r}")
            delays[key] = float(value)
            continue
        kind = OPTIONS.get(key)
        if kind is None:
            known = ", ".join([*OPTIONS, *SUPERVISOR])
            raise UsageError(f"unknown key {raw!r} in [stream] (known: {known})")
        arguments += _arguments(raw, "--" + key.replace("_", "-"), kind, value)
    if not {"--symbols", "--all", "--all-liquidations"} & set(arguments):
        raise UsageError("[stream] needs symbols (or all = true, or all_liquidations = true)")
    if delays["restart_min"] > delays["restart_max"]:
        raise UsageError("restart_min in [stream] must not exceed restart_max")
    return StreamConfig(tuple(arguments), delays["restart_min"], delays["restart_max"], delays["pause_after"])


def _arguments(raw: str, option: str, kind: str, value: object) -> list[str]:
    """One `[stream]` key as the command's arguments."""
    if kind == _FLAG:
        if not isinstance(value, bool):
            raise UsageError(f"{raw} in [stream] must be true or false, not {value!r}")
        return [option] if value else []
    if kind == _NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{raw} in [stream] must be a number of seconds, not {value!r}")
        return [option, str(value)]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise UsageError(f"{raw} in [stream] must be text in quotes (or a list of names), not {value!r}")
    return [option, value]


def backoff(failures: int, low: float, high: float, rand: Callable[[], float] = random.random) -> float:
    """The delay before restart number `failures` (1, 2, …): `low · 2^(failures-1)` capped at `high`, of
    which the second half is random (jitter that never drops below half the step)."""
    step = min(high, low * 2.0 ** max(failures - 1, 0))
    return step / 2 + rand() * step / 2


def child_environment(settings: Settings, config: Path | None = None) -> dict[str, str]:
    """The environment of a child command serving the same lake with the same endpoints."""
    environment = dict(os.environ)
    for name, variable in ENV_NAMES.items():
        environment[variable] = str(getattr(settings, name))
    if config is not None:
        environment[CONFIG_ENV] = str(config)
    return environment


@dataclass
class StreamState:
    """What the supervisor knows, for the daemon's live status, `daemon status` and `monitor`."""

    state: str = "stopped"  # starting | running | waiting | stopped | refused
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    next_start_in: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "next_start_in": self.next_start_in,
        }


class _Jobs:
    """How many of the daemon's jobs run now (each may hold the writer lock)."""

    def __init__(self) -> None:
        self.active = 0
        self._changed = threading.Condition()

    def change(self, delta: int) -> None:
        with self._changed:
            self.active += delta
            self._changed.notify_all()

    def wait_idle(self, stopping: threading.Event) -> bool:
        """Wait until no job runs; False when `stopping` is set first."""
        with self._changed:
            while self.active and not stopping.is_set():
                self._changed.wait(0.2)
        return not stopping.is_set()


class StreamSupervisor:
    """Runs `binance-lake stream <arguments>` and keeps it running (see the module docstring).

    `log(event, **fields)` receives each start, exit and restart; `on_change(state)` each change of state;
    `on_restart()` each restart (the daemon counts them in its metrics). `command` and `rand` are for tests."""

    def __init__(
        self,
        config: StreamConfig,
        root: Path,
        environment: Mapping[str, str],
        *,
        log: Callable[..., None],
        on_change: Callable[[StreamState], None] = lambda state: None,
        on_restart: Callable[[], None] = lambda: None,
        command: tuple[str, ...] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.root = root
        self.environment = dict(environment)
        self.log = log
        self.on_change = on_change
        self.on_restart = on_restart
        self.command = command or (
            sys.executable,
            "-c",
            "from binance_lake.cli.app import main; main()",
            "stream",
            *config.arguments,
            "--json-log",
            str(root / "logs" / LOG_NAME),
        )
        self.rand = rand
        self.state = StreamState()
        self._stopping = threading.Event()
        self._paused = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs = _Jobs()

    # -- control ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the child and the thread that watches it."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._watch, name="stream-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """Stop the child cleanly (SIGINT, then SIGKILL after `timeout`) and the watcher; its exit code."""
        self._stopping.set()
        code = self._end_child(timeout)
        if self._thread is not None:
            self._thread.join(timeout + 5)
        self._set(state="stopped", pid=None, next_start_in=None)
        return code

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def pause(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the child for a while (a job that needs the writer lock it holds); `resume` restarts it."""
        self._paused.set()
        self.log("stream-pause", pid=self.pid)
        self._end_child(timeout)

    def resume(self) -> None:
        self._paused.clear()

    def job_started(self) -> None:
        """The daemon starts a job (it may take the writer lock): see `_watch`."""
        self._jobs.change(+1)

    def job_ended(self) -> None:
        self._jobs.change(-1)

    # -- the watcher --------------------------------------------------------------------------------------

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            if self._paused.is_set():
                self._set(state="paused", pid=None)
                self._stopping.wait(0.1)
                continue
            started, offset = time.monotonic(), self._output_size()
            child = self._spawn()
            code = child.wait()
            if self._stopping.is_set():
                break
            self._set(last_exit=code, pid=None)
            if self._paused.is_set():
                continue
            if code == USAGE_EXIT:
                self._set(state="refused")
                self.log("stream-refused", exit=code, reason="its [stream] options were refused; see logs")
                return
            if code == 1 and LOCKED_WORDS in self._output_since(offset):
                # Refused the writer lock, held by one of the daemon's jobs (today's collector needs it for its
                # whole run) or by a manual sync: not a crash, so no growing backoff. Start it again once no
                # daemon job runs, after the shortest delay.
                self._set(state="waiting", next_start_in=None)
                self.log("stream-exit", exit=code, restart_in=None, reason="the writer lock was taken")
                if not self._jobs.wait_idle(self._stopping) or self._stopping.wait(self.config.restart_min):
                    return
            else:
                failures = 1 if time.monotonic() - started >= HEALTHY_SECONDS else failures + 1
                delay = backoff(failures, self.config.restart_min, self.config.restart_max, self.rand)
                self._set(state="waiting", next_start_in=round(delay, 3))
                self.log("stream-exit", exit=code, restart_in=round(delay, 3))
                if self._stopping.wait(delay):
                    break
            self.state.restarts += 1
            self.on_restart()

    @property
    def _output(self) -> Path:
        return self.root / "logs" / OUTPUT_NAME

    def _output_size(self) -> int:
        try:
            return self._output.stat().st_size
        except OSError:
            return 0

    def _output_since(self, offset: int) -> str:
        """What the last child wrote to its output (its error sentence when it failed)."""
        try:
            with self._output.open("rb") as handle:
                handle.seek(offset)
                return handle.read(64 * 1024).decode(errors="replace")
        except OSError:
            return ""

    def _spawn(self) -> subprocess.Popen[bytes]:
        output = self._output
        output.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, output.open("ab") as handle:
            # Its own session: a Ctrl-C at the daemon's terminal reaches the daemon, which stops the child.
            self._child = subprocess.Popen(
                self.command,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=handle,
                start_new_session=True,
                preexec_fn=_stop_with_parent(os.getpid()),
            )
        self._set(state="running", pid=self._child.pid, next_start_in=None)
        self.log("stream-start", pid=self._child.pid, restarts=self.state.restarts)
        return self._child

    def _end_child(self, timeout: float) -> int | None:
        with self._lock:
            child = self._child
        if child is None:
            return None
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return child.returncode

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self.state, name, value)
        self.on_change(self.state)


# prctl(2)'s PR_SET_PDEATHSIG: the signal the kernel sends a child when the thread that started it ends.
_PR_SET_PDEATHSIG = 1


def _stop_with_parent(parent: int) -> Callable[[], None]:
    """What the child runs between fork and exec (Linux): it is sent SIGINT — the clean stop, its segments
    flushed and compacted — when the supervisor thread that started it ends, so a daemon killed with SIGKILL
    never leaves an orphaned collector running beside the next daemon's. Elsewhere nothing is done."""

    def arm() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the daemon died before the signal was armed
            os.kill(os.getpid(), signal.SIGINT)

    return arm
