"""`binance-lake sim serve`: run the Binance simulator on loopback in the foreground.

Prints the `export BINANCE_LAKE_...=...` lines that point binance-lake at it; Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import threading

import typer

from binance_lake.core.errors import UsageError

sim_app = typer.Typer(
    help="Run the offline Binance simulator (archive, listing, REST).", no_args_is_help=True
)


@sim_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(0, help="Port to listen on; 0 picks a free one."),
    universe: str = typer.Option("small", help="small, medium, large, or a FILE.toml describing symbols."),
    seed: int = typer.Option(7, help="Seed of the synthetic universe (same seed, same bytes)."),
    now: str = typer.Option("", help="The simulator's clock, e.g. 2026-11-20 or 2026-11-20T12:00Z."),
    faults: str = typer.Option("", help="Fault spec, e.g. '5xx=0.05,429=0.02@*/klines/*;first=2@*1h*'."),
    restricted: bool = typer.Option(
        False, "--restricted", help="REST answers every request with 451, as from a restricted location."
    ),
    stream_speed: float = typer.Option(
        1.0,
        "--stream-speed",
        min=0.0,
        help="Simulated seconds per second for the streams (0 stops the clock).",
    ),
    stream_faults: str = typer.Option(
        "", "--stream-faults", help="WebSocket faults, e.g. 'drop=500,silence=2000,duplicate=0.01,life=3600'."
    ),
) -> None:
    """Serve the simulator until interrupted."""
    from binance_lake.core.timerange import resolve_range
    from binance_lake.sim.faults import parse_faults
    from binance_lake.sim.rest_weights import RestLimits
    from binance_lake.sim.server import SimServer
    from binance_lake.sim.universe import Universe

    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range 0..65535")
    moment = resolve_range(now).start if now else None
    world = Universe.build(universe, seed=seed, now=moment)
    plan = parse_faults(faults, seed=seed)
    limits = RestLimits(restricted=True) if restricted else None
    server = SimServer(
        world,
        plan,
        host=host,
        port=port,
        rest_limits=limits,
        stream_faults=stream_faults,
        stream_speed=stream_speed,
    ).start()
    for name, value in server.settings_env().items():
        typer.echo(f"export {name}={value}")
    typer.echo(
        f"# simulator ({universe}, seed {seed}, now {world.clock.now():%Y-%m-%dT%H:%M:%SZ}) on "
        f"{server.base_url}; Ctrl-C stops it",
        err=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        typer.echo("# simulator stopped", err=True)
    finally:
        server.stop()
