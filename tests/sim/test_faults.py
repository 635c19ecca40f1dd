"""Fault specs: parsing, determinism, and each effect as a client sees it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.sim.faults import FaultClause, FaultPlan, parse_faults
from binance_lake.sim.server import SimServer
from tests.sim.simhttp import fetch, raw_get

Factory = Callable[..., SimServer]
KEY = "/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip"


def test_parse_spec() -> None:
    plan = parse_faults(
        "5xx=0.05,reset=0.02@*/klines/*; first=2@*BTCUSDT-1h-2024-01*;stall_seconds=0.5", seed=3
    )
    assert plan.clauses == (
        FaultClause("*/klines/*", (("5xx", 0.05), ("reset", 0.02)), 0),
        FaultClause("*BTCUSDT-1h-2024-01*", (), 2),
    )
    assert plan.stall_seconds == 0.5 and plan.seed == 3
    assert parse_faults("").empty and parse_faults(None).empty
    for bad in ("5xx", "boom=0.1", "5xx=2", "429=x", "reset=-1"):
        with pytest.raises(UsageError):
            parse_faults(bad)


def test_decisions_depend_only_on_seed_url_and_count() -> None:
    plan = FaultPlan((FaultClause("*", (("5xx", 0.3), ("corrupt", 0.2))),), seed=11)
    again = FaultPlan((FaultClause("*", (("5xx", 0.3), ("corrupt", 0.2))),), seed=11)
    other = FaultPlan((FaultClause("*", (("5xx", 0.3), ("corrupt", 0.2))),), seed=12)
    fates = [plan.decide(f"/k{i % 7}", i) for i in range(400)]
    assert fates == [again.decide(f"/k{i % 7}", i) for i in range(400)]
    assert fates != [other.decide(f"/k{i % 7}", i) for i in range(400)]
    share = sum(f == "5xx" for f in fates) / len(fates)
    assert 0.2 < share < 0.4


def test_first_n_requests_fail_exactly(make_sim: Factory) -> None:
    server = make_sim(faults="first=2@*BTCUSDT-1h-2024-01*")
    statuses = [fetch(server.base_url + KEY).status for _ in range(4)]
    assert statuses[:2] in ([500, 500], [503, 503], [500, 503], [503, 500]) and statuses[2:] == [200, 200]
    other = "/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02-05.zip"
    assert fetch(server.base_url + other).status == 200
    assert server.stats.faults["5xx"] == 2 and server.stats.requests["archive"] == 5


def test_429_has_retry_after(make_sim: Factory) -> None:
    server = make_sim(faults="429=1,retry_after=3@*/klines/*")
    reply = fetch(server.base_url + KEY)
    assert reply.status == 429 and reply.headers["Retry-After"] == "3"
    listing = server.settings_env()["BINANCE_LAKE_LISTING_URL"]
    assert fetch(listing + "?prefix=data/&delimiter=/").status == 200


def test_truncate_reset_and_corrupt(make_sim: Factory) -> None:
    clean = make_sim()
    whole = fetch(clean.base_url + KEY).body
    for kind in ("truncate", "reset"):
        server = make_sim(faults=f"{kind}=1")
        status, headers, body = raw_get(server.host, server.port, KEY)
        assert status == 200 and int(headers["Content-Length"]) == len(whole) and len(body) < len(whole)
    corrupt = make_sim(faults="corrupt=1")
    body = fetch(corrupt.base_url + KEY).body
    assert len(body) == len(whole) and body != whole


def test_corrupt_damages_other_bytes_each_time_and_corrupt_permanent_the_same(make_sim: Factory) -> None:
    whole = fetch(make_sim().base_url + KEY).body
    transit = make_sim(faults="corrupt=1")
    bodies = {fetch(transit.base_url + KEY).body for _ in range(3)}
    assert len(bodies) == 3 and whole not in bodies  # a fresh download gives other wrong bytes
    permanent = make_sim(faults="corrupt_permanent=1")
    (damaged,) = {fetch(permanent.base_url + KEY).body for _ in range(3)}
    assert len(damaged) == len(whole) and damaged != whole
    assert permanent.stats.faults["corrupt_permanent"] == 3


def test_corrupt_permanent_chooses_urls_once_not_requests() -> None:
    plan = parse_faults("corrupt_permanent=0.3", seed=5)
    fates = {url: {plan.decide(url, n) for n in range(20)} for url in (f"/k{i}" for i in range(200))}
    assert all(len(f) == 1 for f in fates.values())  # every request to a URL shares its fate
    share = sum(f == {"corrupt_permanent"} for f in fates.values()) / len(fates)
    assert 0.2 < share < 0.4


def test_stall(make_sim: Factory) -> None:
    server = make_sim(faults="stall=1,stall_seconds=0.4")
    started = time.monotonic()
    assert fetch(server.base_url + KEY).status == 200
    assert time.monotonic() - started >= 0.4


def test_admin_routes_move_the_clock_and_summarise(make_sim: Factory) -> None:
    server = make_sim(faults="5xx=1")
    reply = fetch(f"{server.base_url}/__sim__/clock?now=2025-01-02T03:04:05Z", method="POST")
    assert reply.status == 200 and json.loads(reply.body)["now"].startswith("2025-01-02T03:04:05")
    assert server.universe.clock.now().year == 2025
    summary = json.loads(fetch(f"{server.base_url}/__sim__/manifest").body)
    assert summary["now"].startswith("2025-01-02") and summary["quirks"]["checksum_mismatch"] == []
    assert fetch(f"{server.base_url}/__sim__/clock?now=soon", method="POST").status == 400


def test_settings_env_points_at_the_server(sim_server: SimServer) -> None:
    env = sim_server.settings_env()
    base = sim_server.base_url
    assert (
        env["BINANCE_LAKE_ARCHIVE_URL"] == base
        and env["BINANCE_LAKE_LISTING_URL"] == base + "/data.binance.vision"
    )
    assert env["BINANCE_LAKE_FAPI_URL"] == base + "/sim-fapi" and env["BINANCE_LAKE_FSTREAM_URL"].startswith(
        "ws://127.0.0.1:"
    )
    settings = sim_server.settings()
    assert settings.archive_url == base and settings.dapi_url == base + "/sim-dapi"
