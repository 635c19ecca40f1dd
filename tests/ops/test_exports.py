"""The daemon's export jobs: `[export.qlib]` / `[export.postgres]` checked, and `export_postgres` run by the
daemon against a real PostgreSQL (the Qlib job runs end to end in tests/cli/test_daemon_cmd.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings, resolve_settings
from binance_lake.lake import Lake
from binance_lake.load.request import build_request
from binance_lake.load.stream import iter_batches
from binance_lake.ops.daemon import Daemon, JobLog, log_path
from binance_lake.ops.exports import configured_jobs, parse_exports
from binance_lake.ops.schedule import parse_schedule
from binance_lake.sim.server import SimServer
from binance_lake.storage.job_runs import Outcome


def settings_with(tmp_path: Path, text: str, **environ: str) -> Settings:
    config = tmp_path / "binance-lake.toml"
    config.write_text(f'root = "{tmp_path / "lake"}"\n' + text)
    return resolve_settings(config=str(config), environ=environ)


def test_tables_are_read_with_the_options_names(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path,
        '[[export.qlib]]\nfreq = "day"\nout = "qlib/day"\nstart = 2024-01-01\nsymbols = ["BTCUSDT"]\n'
        '[[export.qlib]]\nfreq = "60min"\nout = "/data/q60"\nstart = "2024-01-01"\nfrom-1min = true\n'
        '[export.postgres]\ndsn = "postgresql://u@h/db"\nintervals = "1h,1d"\n',
    )
    day, hour, pg = parse_exports(settings)
    assert day.options == {
        "freq": "day",
        "out": tmp_path / "lake" / "qlib" / "day",  # relative: under the lake root
        "start": "2024-01-01",
        "symbols": "BTCUSDT",
    }
    assert hour.options["out"] == Path("/data/q60") and hour.options["from_1min"] is True
    assert pg.job == "export_postgres" and pg.options == {"dsn": "postgresql://u@h/db", "intervals": "1h,1d"}
    assert configured_jobs(settings) == ("export_qlib", "export_postgres")
    assert configured_jobs(settings_with(tmp_path, "")) == ()


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ('[export.csv]\nout = "x"\n', "unknown export [export.csv] (known: qlib, postgres)"),
        ('[export.qlib]\nfreq = "day"\nout = "q"\n', "[export.qlib] needs start"),
        ('[export.qlib]\nfreq = "day"\nout = "q"\nstart = "2024-01-01"\nall = 1\n', "unknown key 'all'"),
        ('[export.qlib]\nfreq = 1\nout = "q"\nstart = "2024-01-01"\n', "freq in [export.qlib] must be text"),
        ('[export.qlib]\nfreq = "day"\nout = "q"\nstart = "x"\nfrom_1h = "yes"\n', "must be true or false"),
        ("[export.postgres]\nschema = 'a'\n", "[export.postgres] needs dsn"),
        ("[export]\nqlib = 3\n", "[export.qlib] in"),
    ],
)
def test_bad_tables_are_one_sentence(tmp_path: Path, text: str, sentence: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_exports(settings_with(tmp_path, text))
    assert sentence in str(raised.value)


def test_the_dsn_may_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_LAKE_POSTGRES_DSN", "postgresql://env@h/db")
    (spec,) = parse_exports(settings_with(tmp_path, "[export.postgres]\nschema = 'lake'\n"))
    assert spec.options == {"schema": "lake", "dsn": "postgresql://env@h/db"}


def _lake_rows(root: Path, symbols: list[str], start: dt.date, end: dt.date) -> int:
    request = build_request("klines", symbols, start, end, market="um", interval="1h")
    return sum(batch.num_rows for batch in iter_batches(root, request, require=False))


def test_the_daemon_exports_to_postgres_after_each_update(
    make_sim: Callable[..., Any], tmp_path: Path, pg_dsn: str
) -> None:
    import psycopg

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    server: SimServer = make_sim(now=now)
    root = tmp_path / "lake"
    today = now.date()
    settings = dataclasses.replace(
        server.settings(root),
        exports=MappingProxyType({"postgres": (MappingProxyType({"dsn": pg_dsn, "symbols": "BTCUSDT"}),)}),
    )
    lake = Lake(root, settings=settings)
    lake.sync(
        datasets="klines", intervals="1h", symbols="BTCUSDT", start=today - dt.timedelta(days=5), end=today
    )
    specs = parse_schedule({"probe": "off", "update": "0 2 * * *"})
    daemon = Daemon(lake, specs, log=JobLog(log_path(root)))
    assert daemon.chain_order() == ["update", "check", "report", "export_postgres"]
    results = {r.job: r for r in daemon.run_once()}
    assert all(r.outcome is Outcome.OK for r in results.values()), results
    held = _lake_rows(root, ["BTCUSDT"], today - dt.timedelta(days=5), today)
    assert held > 0 and results["export_postgres"].summary["rows"] == held
    with psycopg.connect(pg_dsn) as connection:
        (count,) = connection.execute("SELECT count(*) FROM public.ohlcv WHERE symbol = 'BTCUSDT'").fetchone()
    assert count == held
    # The next run copies nothing new: the export is incremental.
    again = {r.job: r for r in daemon.run_once()}
    assert again["export_postgres"].outcome is Outcome.OK
    assert again["export_postgres"].summary["exports"][0]["copied"] == 0
