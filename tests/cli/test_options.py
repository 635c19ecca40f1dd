"""The option vocabulary, pinned over the whole typer app: every option has help text, plural options take
comma lists and singular ones one value, every command that prints results takes `--format table|csv|json`,
the old spellings still work (hidden), JSON keeps numbers as numbers, and stdout has no stray blank line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import typer.main
from rich.text import Text
from typer.testing import CliRunner

from binance_lake.cli.app import app
from binance_lake.cli.render import format_json
from binance_lake.sim.server import SimServer

runner = CliRunner()
PLURAL = {"--markets": "--market", "--datasets": "--dataset", "--intervals": "--interval", "--symbols": None}
SINGULAR = {v: k for k, v in PLURAL.items() if v}
# Where a singular option is the rule: the command takes exactly one of it.
ONE_VALUE = {
    ("sync", "--market"),
    ("load", "--market"),
    ("load", "--interval"),
    ("update", "--market"),
    ("check", "--market"),
    ("stream", "--market"),
    ("export qlib", "--market"),
    ("export csv", "--market"),
    ("export postgres", "--market"),
}
# Commands that print no result table (a file, a server, a demo report, a live view).
NO_FORMAT = {"load", "demo", "sim serve", "report", "monitor"}


def commands() -> Iterator[tuple[str, Any]]:
    """(path, click command) of every leaf command of the app."""

    def walk(prefix: str, group: Any) -> Iterator[tuple[str, Any]]:
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(command, "commands"):
                yield from walk(path, command)
            else:
                yield path, command

    yield from walk("", typer.main.get_command(app))


def options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def visible_flags(command: Any) -> set[str]:
    return {flag for p in options(command) if not p.hidden for flag in p.opts}


def test_every_option_has_help_text() -> None:
    root = typer.main.get_command(app)
    everything = [("binance-lake", p) for p in options(root)]
    everything += [(path, p) for path, command in commands() for p in options(command)]
    assert len(everything) > 50
    # As `--help` shows it: rich markup in a help text (`[env X]`) would render as nothing.
    lacking = [(path, p.opts) for path, p in everything if not Text.from_markup(p.help or "").plain.strip()]
    assert lacking == []


def test_plural_options_and_singular_options_follow_one_rule() -> None:
    for path, command in commands():
        flags = visible_flags(command)
        for singular, plural in SINGULAR.items():
            assert not (singular in flags and plural in flags), (path, singular)
            if singular in flags:
                assert (path, singular) in ONE_VALUE, f"{path} {singular}: make it {plural} (a list)"
        for plural in PLURAL:
            if plural in flags:
                assert "comma-separated" in (_option(command, plural).help or "").lower(), (path, plural)


def _option(command: Any, flag: str) -> Any:
    (found,) = [p for p in options(command) if flag in p.opts]
    return found


def test_every_result_printing_command_takes_format() -> None:
    for path, command in commands():
        if path in NO_FORMAT:
            continue
        assert "--format" in visible_flags(command), path
        kind = _option(command, "--format").type_descriptor.annotation
        assert {member.value for member in kind} == {"table", "csv", "json"}, path


@pytest.fixture(scope="module")
def lake(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    root = tmp_path_factory.mktemp("lake")
    settings = sim_server.settings(root)
    flags = [
        "--root",
        str(root),
        "--archive-url",
        settings.archive_url,
        "--listing-url",
        settings.listing_url,
    ]
    flags += ["--fapi-url", settings.fapi_url, "--dapi-url", settings.dapi_url]
    selection = ["--markets", "um,cm", "--datasets", "fundingRate", "--symbols", "BTCUSDT,BTCUSD_PERP"]
    refresh = runner.invoke(app, [*flags, "catalog", "refresh", *selection])
    assert refresh.exit_code == 0, refresh.output
    yield flags


def cli(flags: list[str], *args: str) -> Any:
    result = runner.invoke(app, [*flags, *args])  # the global options before the command, as always worked
    assert result.exit_code == 0, result.output
    return result


def test_plural_options_take_lists(lake: list[str]) -> None:
    for args in (
        ("catalog", "snapshot", "2023-08-15"),
        ("catalog", "range", "2023-08-01", "2023-08-31"),
        ("catalog", "earliest"),
        ("catalog", "symbols"),
    ):
        rows = json.loads(cli(lake, *args, "--markets", "um,cm", "--format", "json").stdout)
        assert {r["market"] for r in rows} == {"um", "cm"}, args
    timeline = cli(
        lake, "catalog", "timeline", "BTCUSDT", "--datasets", "fundingRate,klines", "--format", "json"
    )
    assert [r["dataset"] for r in json.loads(timeline.stdout)] == ["fundingRate"]


def test_singular_options_take_one_value(lake: list[str]) -> None:
    args = [
        "sync",
        "--market",
        "um,cm",
        "--datasets",
        "fundingRate",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2023-08-01",
    ]
    result = runner.invoke(app, [*lake, *args])
    assert result.exit_code != 0 and "unknown market" in str(result.exception or result.output)


def test_old_spellings_still_work(lake: list[str]) -> None:
    new = cli(
        lake,
        "catalog",
        "snapshot",
        "2023-08-15",
        "--markets",
        "cm",
        "--datasets",
        "fundingRate",
        "--format",
        "csv",
    )
    old = cli(
        lake,
        "catalog",
        "snapshot",
        "2023-08-15",
        "--market",
        "cm",
        "--dataset",
        "fundingRate",
        "--format",
        "csv",
    )
    assert old.stdout == new.stdout and "BTCUSD_PERP" in new.stdout
    assert "--market is now --markets" in old.stderr and new.stderr == ""
    sync = [
        "sync",
        "--datasets",
        "fundingRate",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2023-08-01",
        "--end",
        "2023-08-31",
    ]
    as_format = json.loads(cli(lake, *sync, "--dry-run", "--format", "json").stdout)
    as_json = json.loads(cli(lake, *sync, "--dry-run", "--json").stdout)
    assert as_json == as_format and as_format["planned_files"] == 1
    assert "--json" not in visible_flags(dict(commands())["sync"])
    assert "--market" not in visible_flags(dict(commands())["catalog snapshot"])


def test_json_numbers_are_numbers_in_every_command(lake: list[str]) -> None:
    symbols = json.loads(cli(lake, "catalog", "symbols", "--markets", "um", "--format", "json").stdout)
    assert all(isinstance(row["bytes"], int) and isinstance(row["files"], int) for row in symbols)
    sync = [
        "sync",
        "--datasets",
        "fundingRate",
        "--symbols",
        "BTCUSDT",
        "--start",
        "2023-08-01",
        "--end",
        "2023-08-31",
    ]
    cli(lake, *sync)
    status = json.loads(cli(lake, "status", "--format", "json").stdout)
    assert status and all(isinstance(row["bytes"], int) for row in status)
    refreshed = json.loads(
        cli(
            lake,
            "catalog",
            "refresh",
            "--markets",
            "um",
            "--datasets",
            "fundingRate",
            "--symbols",
            "BTCUSDT",
            "--format",
            "json",
        ).stdout
    )
    assert refreshed["changes_unchanged"] > 0 and isinstance(refreshed["seconds"], float)


def test_no_blank_first_line_on_stdout(lake: list[str], tmp_path: Path) -> None:
    for args in (
        ("catalog", "refresh", "--markets", "um", "--datasets", "fundingRate", "--symbols", "BTCUSDT"),
        ("catalog", "probe", "--date", "2023-08-02", "--markets", "um"),
    ):
        out = cli(lake, *args).stdout
        assert out.strip() and not out.startswith("\n"), (args, out)


def test_json_keeps_a_decimal_a_number() -> None:
    # A DuckDB HUGEINT (what sum() of BIGINT gives) reaches Arrow as decimal128; JSON must not quote it.
    table = pa.table({"bytes": pa.array([Decimal("1582841"), Decimal("2.5")], pa.decimal128(38, 1))})
    assert json.loads(format_json(table)) == [{"bytes": 1582841}, {"bytes": 2.5}]
