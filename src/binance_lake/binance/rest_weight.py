"""One request-weight budget per REST host, so a run never gets the IP banned.

Binance limits each IP to 2400 weight per rolling minute per host (fapi, dapi and api do not share limits,
reference §4.1) and reports the weight used so far in `X-MBX-USED-WEIGHT-1M`. A `WeightBudget` keeps one host
below `share` of that limit: before a request it waits until the request's documented weight fits, counting
what this process spent in the last minute and, from the header, what others spent beside it (another process
on the same IP). A 429 pauses the whole host for its `Retry-After`; a 418 closes the host for the rest of the
run (`banned_until`): nothing more is sent to it.

Pure apart from the injected clock and sleep, so tests cross a minute in microseconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0  # the `1M` of X-MBX-USED-WEIGHT-1M
WEIGHT_LIMIT = 2400  # REQUEST_WEIGHT per minute of fapi and dapi (reference §4.1)
DEFAULT_SHARE = 0.8  # of the limit this process allows itself: headroom for other users of the IP
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
IN_FLIGHT_POLL = 0.05  # seconds between looks when the weight to free is still in flight

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


def kline_weight(limit: int) -> int:
    """The documented weight of a kline-family request by `limit`: [1,100)=1, [100,500)=2, [500,1000]=5,
    >1000=10 (reference §4.2)."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


@dataclass
class WeightBudget:
    """The weight one host may still take this minute; shared by every request to that host in a run."""

    host: str
    limit: int = WEIGHT_LIMIT
    share: float = DEFAULT_SHARE
    clock: Clock = field(default=time.monotonic, repr=False)
    sleep: Sleep = field(default=asyncio.sleep, repr=False)
    window: float = WINDOW_SECONDS  # seconds the limit counts over (a request bucket: e.g. 300)
    banned_until: float | None = None  # clock time a 418 ban ends; the host is closed for the run
    paused_until: float = 0.0  # a 429's Retry-After, for every request to this host
    peak: int = 0  # the highest weight this budget saw in use in a minute (own or reported)
    _spent: deque[list[float]] = field(default_factory=deque, repr=False)  # [when, weight], oldest first
    _reported: tuple[float, int] = (0.0, 0)  # (when, used weight) of the latest header
    _heard: bool = False  # an answer has told what the IP already used on this host
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ValueError("the weight share is a fraction in (0, 1]")

    @property
    def budget(self) -> int:
        """The weight per minute this run allows itself on the host."""
        return max(1, int(self.limit * self.share))

    def _own(self, now: float) -> int:
        # Settled entries may have moved later than newer ones: keep every entry still inside the window.
        if any(when <= now - self.window for when, _ in self._spent):
            self._spent = deque(e for e in self._spent if e[0] > now - self.window)
        return int(sum(w for _, w in self._spent))

    def used(self, now: float | None = None) -> int:
        """The weight in use now, as far as we know: ours of the last minute, or the server's figure when it
        reported more (others on the IP), until that figure is a minute old."""
        at = self.clock() if now is None else now
        own = self._own(at)
        when, reported = self._reported
        external = reported if at - when < self.window else 0
        return max(own, external)

    def _wait_for(self, weight: int, now: float) -> float:
        """Seconds until `weight` fits, 0 when it fits now."""
        pause = max(0.0, self.paused_until - now)
        used = self.used(now)
        if used + weight <= self.budget:
            return pause
        # Our own weight ages out oldest first; a reported figure (others' weight) ages out as a whole.
        excess = used + weight - self.budget
        freed = 0
        for when, spent in sorted(self._spent):
            if math.isinf(when):
                # What must age out is still in flight: its minute starts when its answer is in.
                return max(pause, IN_FLIGHT_POLL)
            freed += int(spent)
            if freed >= excess:
                return max(pause, when + self.window - now)
        return max(pause, self._reported[0] + self.window - now, IN_FLIGHT_POLL)

    async def acquire(self, weight: int) -> list[float]:
        """Wait until a request of `weight` fits in the budget, then count it as spent. Returns the entry to
        `settle` once the answer is in: the server counts a request when it arrives, which may be later than
        now: until settled the weight never ages out, and then it ages out from the answer's time, never
        earlier than the server's."""
        async with self._lock:  # one waiter at a time: requests go out in the order they asked
            while True:
                now = self.clock()
                if self.banned_until is not None:
                    return [now, 0.0]  # the caller checks `banned` and refuses; never wait days here
                wait = self._wait_for(min(weight, self.budget), now)
                if wait <= 0 and not self._heard and any(math.isinf(w) for w, _ in self._spent):
                    # One request first: others on this IP (an earlier run within the minute) may have used
                    # weight already, and only an answer's X-MBX-USED-WEIGHT-1M says how much.
                    wait = IN_FLIGHT_POLL
                if wait <= 0:
                    entry = [math.inf, float(weight)]  # in flight: counted until `settle` dates it
                    self._spent.append(entry)
                    self.peak = max(self.peak, self._own(now))
                    return entry
                await self.sleep(wait)

    def settle(self, entry: list[float]) -> None:
        """The request of `entry` was answered (or failed): its weight ages out a minute from now."""
        entry[0] = self.clock()
        self._heard = True  # answered, or failed without a figure: do not hold the others back for ever

    def observe(self, used_weight: int | None) -> None:
        """The `X-MBX-USED-WEIGHT-1M` figure of an answer: what the IP has used on this host this minute."""
        if used_weight is None:
            return
        now = self.clock()
        self._heard = True
        self._reported = (now, used_weight)
        self.peak = max(self.peak, used_weight)

    def pause(self, seconds: float) -> None:
        """A 429: nothing goes to this host for `seconds`."""
        self.paused_until = max(self.paused_until, self.clock() + max(0.0, seconds))

    def ban(self, seconds: float | None) -> None:
        """A 418: the host is closed for the rest of the run; the ban ends after `seconds` (when known)."""
        self.banned_until = self.clock() + (seconds if seconds is not None else 120.0)

    @property
    def banned(self) -> bool:
        return self.banned_until is not None
