"""Run the simulator: `build_app` assembles the aiohttp application; `SimServer` serves it on loopback
from a background thread with its own event loop (for tests, benchmarks and `binance-lake sim serve`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import ENV_NAMES, Settings
from binance_lake.core.timerange import UTC
from binance_lake.sim.archive_app import add_archive_routes
from binance_lake.sim.bucket import Bucket
from binance_lake.sim.faults import FaultPlan, Stats, fault_middleware, parse_faults
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.rest import RestRevisions, rest_app
from binance_lake.sim.rest_weights import RestLimits
from binance_lake.sim.universe import Universe
from binance_lake.sim.ws import StreamHub, WsFaults, add_stream_routes

UNIVERSE_KEY: web.AppKey[Universe] = web.AppKey("universe", Universe)
STATS_KEY: web.AppKey[Stats] = web.AppKey("stats", Stats)
REST_SERVICES = {"fapi": "/sim-fapi", "dapi": "/sim-dapi", "spot": "/sim-spot"}


async def _set_clock(request: web.Request) -> web.Response:
    universe = request.app[UNIVERSE_KEY]
    text = request.query.get("now", "")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return web.json_response({"error": f"bad now {text!r}; expected an ISO time"}, status=400)
    universe.clock.set(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return web.json_response({"now": universe.clock.now().isoformat()})


async def _manifest(request: web.Request) -> web.Response:
    return web.json_response(Manifest(request.app[UNIVERSE_KEY]).summary())


async def _stats(request: web.Request) -> web.Response:
    stats = request.app[STATS_KEY]
    return web.json_response({"requests": dict(stats.requests), "bytes": dict(stats.bytes_served)})


def build_app(
    universe: Universe,
    faults: FaultPlan | str | None = None,
    *,
    stats: Stats | None = None,
    rest_limits: RestLimits | None = None,
    streams: StreamHub | None = None,
    rest_revisions: RestRevisions | None = None,
) -> web.Application:
    """The whole simulator as one aiohttp application (faults apply to every route)."""
    plan = faults if isinstance(faults, FaultPlan) else parse_faults(faults, seed=universe.seed)
    stats = stats or Stats()
    app = web.Application(middlewares=[fault_middleware(plan, stats)])
    app[UNIVERSE_KEY] = universe
    app[STATS_KEY] = stats
    app.router.add_post("/__sim__/clock", _set_clock)
    app.router.add_get("/__sim__/manifest", _manifest)
    app.router.add_get("/__sim__/stats", _stats)
    add_archive_routes(app, Bucket(universe))
    for service, prefix in REST_SERVICES.items():
        app.add_subapp(prefix, rest_app(universe, service, limits=rest_limits, revisions=rest_revisions))
    add_stream_routes(app, streams or StreamHub(universe))
    return app


class SimServer:
    """The simulator on 127.0.0.1 in a background thread. Use as a context manager."""

    def __init__(
        self,
        universe: Universe | None = None,
        faults: FaultPlan | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rest_limits: RestLimits | None = None,
        stream_faults: WsFaults | str | None = None,
        stream_speed: float = 0.0,
        rest_revisions: RestRevisions | None = None,
    ) -> None:
        self.universe = universe or Universe.build()
        self.stats = Stats()
        ws_faults = (
            stream_faults
            if isinstance(stream_faults, WsFaults)
            else WsFaults.parse(stream_faults, seed=self.universe.seed)
        )
        # The WebSocket side; `stream_speed` > 0 moves the universe's clock (simulated seconds per second).
        self.streams = StreamHub(self.universe, ws_faults, speed=stream_speed)
        self.rest_revisions = rest_revisions or RestRevisions()
        self.app = build_app(
            self.universe,
            faults,
            stats=self.stats,
            rest_limits=rest_limits,
            streams=self.streams,
            rest_revisions=self.rest_revisions,
        )
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings_env(self) -> dict[str, str]:
        """The `BINANCE_LAKE_*` variables that point binance-lake at this server."""
        base = self.base_url
        return {
            "BINANCE_LAKE_ARCHIVE_URL": base,
            "BINANCE_LAKE_LISTING_URL": f"{base}/data.binance.vision",
            "BINANCE_LAKE_FAPI_URL": f"{base}/sim-fapi",
            "BINANCE_LAKE_DAPI_URL": f"{base}/sim-dapi",
            "BINANCE_LAKE_SPOT_API_URL": f"{base}/sim-spot",
            "BINANCE_LAKE_FSTREAM_URL": f"ws://{self.host}:{self.port}/sim-fstream",
            "BINANCE_LAKE_DSTREAM_URL": f"ws://{self.host}:{self.port}/sim-dstream",
        }

    def settings(self, root: Path | None = None) -> Settings:
        """A `Settings` pointing at this server, with the lake at `root` when given."""
        env = self.settings_env()
        values: dict[str, Any] = {name: env[var] for name, var in ENV_NAMES.items() if var in env}
        if root is not None:
            values["root"] = root
        return dataclasses.replace(Settings(), **values)

    def start(self) -> SimServer:
        self._thread = threading.Thread(target=self._run, name="binance-lake-sim", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise UsageError(f"the simulator could not start on {self.host}:{self.port}: {self._error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except OSError as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def _start(self) -> None:
        # Cancel the handler of a client that disconnected: rendering for it would delay every other client.
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    def drop_streams(self) -> int:
        """Abort every open WebSocket connection now (a forced disconnect); returns how many."""
        return self.streams.drop_all()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def dumps(value: object) -> str:
    return json.dumps(value, indent=2, default=str)
