"""Request-weight accounting for the simulated REST APIs: weights, rolling limits, 429s and 418 bans.

Pure: no I/O. Time is whatever the caller passes in (the REST app feeds an injectable monotonic clock, never
the simulated market clock), so tests can cross a minute in microseconds.

What Binance documents and the simulator reproduces (reference §0 rows 15-19, §4.1):
- every request costs a weight; the weights of one IP over a rolling minute may not pass the
  `REQUEST_WEIGHT` limit (2400/min on fapi and dapi), reported in `X-MBX-USED-WEIGHT-1M`;
- a request over the limit gets 429 with `Retry-After` (seconds until enough weight has aged out);
- an IP that keeps sending requests while limited is auto-banned: 418 with `Retry-After` until the ban
  ends; bans "scale in duration for repeat offenders, from 2 minutes to 3 days";
- some endpoints have their own request-count limit beside the weight (UM fundingRate shares
  500/5min/IP with fundingInfo; `/futures/data/*` once carried 1000/5min) - modelled as named buckets.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

WEIGHT_WINDOW_SECONDS = 60.0  # the `1M` in X-MBX-USED-WEIGHT-1M
MAX_BAN_SECONDS = 3 * 24 * 3600.0  # "from 2 minutes to 3 days"


@dataclass(frozen=True)
class Bucket:
    """A request-count limit of its own: at most `requests` requests per `seconds` per IP."""

    requests: int
    seconds: float


@dataclass(frozen=True)
class RestLimits:
    """The limit numbers of one simulated REST host. Small numbers keep rate-limit tests fast.

    `weight_per_minute` None means the service's real default (2400 for fapi/dapi, 6000 for spot).
    `ban_after` is how many further requests an IP may send while it is limited before the 418 ban.
    `restricted` turns the host into one that answers every request with 451.
    """

    weight_per_minute: int | None = None
    ban_after: int = 10
    ban_seconds: float = 120.0
    funding_bucket: Bucket = field(default_factory=lambda: Bucket(500, 300.0))
    futures_data_bucket: Bucket = field(default_factory=lambda: Bucket(1000, 300.0))
    restricted: bool = False


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    LIMITED = "limited"  # 429
    BANNED = "banned"  # 418


@dataclass(frozen=True)
class Verdict:
    """What the ledger decided for one request."""

    outcome: Outcome
    used_weight: int  # the IP's weight in the current minute, after this request
    retry_after: int = 0  # whole seconds, for 429 and 418
    banned_for: float = 0.0  # seconds of ban left, for 418


def kline_weight(limit: int) -> int:
    """Kline-family weight by `limit`: [1,100)->1, [100,500)->2, [500,1000]->5, >1000->10 (reference §0 row 16)."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


@dataclass
class _Client:
    """Everything remembered about one IP."""

    spent: deque[tuple[float, int]] = field(default_factory=deque)  # (when, weight) within the window
    bucket_hits: dict[str, deque[float]] = field(default_factory=dict)
    strikes: int = 0  # requests sent while limited, since the limit was last clear
    banned_until: float = 0.0
    offences: int = 0  # bans so far: each one doubles the next

    def used(self, now: float) -> int:
        while self.spent and self.spent[0][0] <= now - WEIGHT_WINDOW_SECONDS:
            self.spent.popleft()
        return sum(w for _, w in self.spent)

    def bucket(self, name: str, spec: Bucket, now: float) -> deque[float]:
        hits = self.bucket_hits.setdefault(name, deque())
        while hits and hits[0] <= now - spec.seconds:
            hits.popleft()
        return hits


class WeightLedger:
    """Per-IP weight and bucket accounting for one REST host (hosts never share a ledger)."""

    def __init__(self, limit: int, limits: RestLimits) -> None:
        self.limit = limit
        self.limits = limits
        self._clients: dict[str, _Client] = {}
        self._buckets = {"funding": limits.funding_bucket, "futures_data": limits.futures_data_bucket}

    def used(self, ip: str, now: float) -> int:
        client = self._clients.get(ip)
        return client.used(now) if client else 0

    def charge(self, ip: str, weight: int, now: float, bucket: str | None = None) -> Verdict:
        """Decide one request of `weight` (and one hit on `bucket`, if named) from `ip` at `now`."""
        client = self._clients.setdefault(ip, _Client())
        used = client.used(now)
        if client.banned_until > now:
            left = client.banned_until - now
            return Verdict(Outcome.BANNED, used, retry_after=math.ceil(left), banned_for=left)
        wait = self._wait_needed(client, weight, used, now, bucket)
        if wait is None:
            client.strikes = 0
            client.spent.append((now, weight))
            if bucket is not None:
                client.bucket(bucket, self._bucket_spec(bucket), now).append(now)
            return Verdict(Outcome.ACCEPTED, used + weight)
        client.strikes += 1
        if client.strikes > self.limits.ban_after:
            client.offences += 1
            ban = min(self.limits.ban_seconds * 2 ** (client.offences - 1), MAX_BAN_SECONDS)
            client.banned_until = now + ban
            client.strikes = 0
            return Verdict(Outcome.BANNED, used, retry_after=math.ceil(ban), banned_for=ban)
        return Verdict(Outcome.LIMITED, used, retry_after=max(1, math.ceil(wait)))

    def _bucket_spec(self, name: str) -> Bucket:
        return self._buckets[name]

    def _wait_needed(
        self, client: _Client, weight: int, used: int, now: float, bucket: str | None
    ) -> float | None:
        """Seconds until this request would fit, or None when it fits now."""
        waits: list[float] = []
        if used + weight > self.limit:
            # Weight ages out oldest first: wait until enough has left the window for this request.
            excess = used + weight - self.limit
            freed = 0
            for when, spent in client.spent:
                freed += spent
                if freed >= excess:
                    waits.append(when + WEIGHT_WINDOW_SECONDS - now)
                    break
            else:
                waits.append(WEIGHT_WINDOW_SECONDS)  # heavier than the whole limit: never fits
        if bucket is not None:
            spec = self._bucket_spec(bucket)
            hits = client.bucket(bucket, spec, now)
            if len(hits) >= spec.requests:
                waits.append(hits[0] + spec.seconds - now)
        return max(waits) if waits else None
