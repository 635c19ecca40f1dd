"""Settings: endpoints, the lake root, the stall timeout and named symbol sets, resolved once at the edge.

Precedence: command-line flag > environment (`BINANCE_LAKE_*`) > `binance-lake.toml` > default.
`Settings` is one frozen dataclass; the CLI and `Lake` resolve it once and pass it down. Code always
defaults to the real Binance endpoints; pointing at a mirror or the simulator is a setting.

`binance-lake.toml` (in the working directory, or named by `--config` / `BINANCE_LAKE_CONFIG`):

    root = "~/data/binance-lake"
    archive_url = "https://data.binance.vision"
    stall_timeout = 120           # seconds without any answer before a run gives up

    [symbols]                     # named sets, used as `--symbols @top`
    top = ["BTCUSDT", "ETHUSDT"]

    [quality]                     # thresholds of `binance-lake check`'s rules (quality/rules.py)
    outlier_move = 0.10
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from binance_lake.core.errors import UsageError
from binance_lake.core.symbols import normalize_symbol, parse_symbol_list, split_list

CONFIG_FILE_NAME = "binance-lake.toml"
CONFIG_ENV = "BINANCE_LAKE_CONFIG"


@dataclass(frozen=True)
class Settings:
    """Where binance-lake reads from and writes to."""

    root: Path = field(default_factory=lambda: Path("~/.binance-lake").expanduser())
    """The lake directory: `lake.duckdb`, `raw/`, `tables/`. Env `BINANCE_LAKE_ROOT`."""

    archive_url: str = "https://data.binance.vision"
    """Where archive files are downloaded from. Env `BINANCE_LAKE_ARCHIVE_URL`."""

    listing_url: str = "https://s3-ap-northeast-1.amazonaws.com/data.binance.vision"
    """The S3 bucket endpoint answering ListObjects (the site's own listing uses it). Env
    `BINANCE_LAKE_LISTING_URL`."""

    fapi_url: str = "https://fapi.binance.com"
    """USDⓈ-M futures REST API. Env `BINANCE_LAKE_FAPI_URL`."""

    dapi_url: str = "https://dapi.binance.com"
    """COIN-M futures REST API. Env `BINANCE_LAKE_DAPI_URL`."""

    spot_api_url: str = "https://api.binance.com"
    """Spot REST API. Env `BINANCE_LAKE_SPOT_API_URL`."""

    fstream_url: str = "wss://fstream.binance.com"
    """USDⓈ-M futures WebSocket streams. Env `BINANCE_LAKE_FSTREAM_URL`."""

    stall_timeout: float = 120.0
    """Seconds a run waits with requests outstanding and no answer or byte from the server before it gives up
    (the state is recorded; the same command resumes). Env `BINANCE_LAKE_STALL_TIMEOUT`."""

    symbol_sets: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Named symbol sets from the `[symbols]` table of the config file (`--symbols @name`)."""

    quality: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Thresholds of the quality rules from the `[quality]` table of the config file (rule name = number;
    `binance_lake.quality.rules` checks the names)."""

    def expand_symbols(self, text: str) -> list[str]:
        """Parse a `--symbols` value: names and `@set` references, comma-separated."""
        symbols: list[str] = []
        for part in split_list(text):
            if part.startswith("@"):
                name = part[1:]
                if name not in self.symbol_sets:
                    known = ", ".join(sorted(self.symbol_sets)) or "none defined"
                    raise UsageError(
                        f"unknown symbol set @{name} (known: {known}; define it in {CONFIG_FILE_NAME})"
                    )
                symbols.extend(self.symbol_sets[name])
            else:
                symbols.extend(parse_symbol_list(part))
        return list(dict.fromkeys(symbols))


ENV_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "root": "BINANCE_LAKE_ROOT",
        "archive_url": "BINANCE_LAKE_ARCHIVE_URL",
        "listing_url": "BINANCE_LAKE_LISTING_URL",
        "fapi_url": "BINANCE_LAKE_FAPI_URL",
        "dapi_url": "BINANCE_LAKE_DAPI_URL",
        "spot_api_url": "BINANCE_LAKE_SPOT_API_URL",
        "fstream_url": "BINANCE_LAKE_FSTREAM_URL",
        "stall_timeout": "BINANCE_LAKE_STALL_TIMEOUT",
    }
)
_NUMBERS = frozenset({"stall_timeout"})
"""Settings that are positive numbers of seconds, not URLs or paths."""


def _seconds(name: str, value: object) -> float:
    try:
        number = float(str(value))
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{name} must be a positive number of seconds, not {value!r}")
    return number


# The schemes each endpoint setting accepts; anything else is refused when the settings are resolved, before a
# client would fail on it with a library error.
URL_SCHEMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        name: ("ws", "wss") if name == "fstream_url" else ("http", "https")
        for name in ENV_NAMES
        if name != "root" and name not in _NUMBERS
    }
)

# Kernel file systems: a lake there cannot work, and creating directories in them fails with odd errors.
VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")


def _setting_name(name: str) -> str:
    return f"--{name.replace('_', '-')} / {ENV_NAMES[name]}"


def check_url(name: str, value: str) -> str:
    """`value` if it is a URL with a scheme endpoint `name` accepts (http(s), ws(s) for streams)."""
    parts = urllib.parse.urlsplit(value)
    schemes = URL_SCHEMES[name]
    if parts.scheme.lower() not in schemes or not parts.netloc:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        article = "an" if wanted.startswith("h") else "a"
        raise UsageError(f"{_setting_name(name)} must be {article} {wanted} URL, not {value!r}")
    return value


def check_root(root: Path) -> Path:
    """`root` if it can be a lake directory: not a file, not inside a file, not in a kernel file system.

    Whether it is writable is the writer's question (`storage.database`): reading needs no write access.
    """
    absolute = root.expanduser().resolve()
    for virtual in VIRTUAL_ROOTS:
        if absolute == Path(virtual) or absolute.is_relative_to(virtual):
            raise UsageError(
                f"the lake root {root} is under {virtual}, a kernel file system; "
                f"choose a directory on a disk ({_setting_name('root')})"
            )
    existing = next((p for p in (absolute, *absolute.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == absolute else f"is inside {existing}, which is a file"
        raise UsageError(
            f"the lake root {root} {where}, not a directory; choose another ({_setting_name('root')})"
        )
    return root


def _read_config(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from None


def _symbol_sets(path: Path, table: object) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise UsageError(f"[symbols] in {path} must be a table of name = [symbols]")
    sets: dict[str, tuple[str, ...]] = {}
    for name, members in table.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise UsageError(f"symbol set {name!r} in {path} must be a list of symbol strings")
        sets[str(name)] = tuple(dict.fromkeys(normalize_symbol(m) for m in members))
    return MappingProxyType(sets)


def _thresholds(path: Path, table: object) -> Mapping[str, float]:
    if not isinstance(table, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
    ):
        raise UsageError(f"[quality] in {path} must be a table of rule = number")
    return MappingProxyType({str(k): float(v) for k, v in table.items()})


def _config_path(flag: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    if flag:
        return Path(flag).expanduser()
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    candidate = cwd / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def _file_values(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in _read_config(path).items():
        if key == "symbols":
            values["symbol_sets"] = _symbol_sets(path, value)
        elif key == "quality":
            values["quality"] = _thresholds(path, value)
        elif key in ENV_NAMES:
            values[key] = str(value)
        else:
            known = ", ".join([*ENV_NAMES, "symbols", "quality"])
            raise UsageError(f"unknown setting {key!r} in {path} (known: {known})")
    return values


def resolve_settings(
    flags: Mapping[str, str | Path | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build `Settings` from flags, the environment, the config file and the defaults, in that order."""
    flags = flags or {}
    environ = os.environ if environ is None else environ
    path = _config_path(config, environ, cwd or Path.cwd())
    values = _file_values(path) if path is not None else {}
    for name, env_name in ENV_NAMES.items():
        if environ.get(env_name):
            values[name] = environ[env_name]
    for name, value in flags.items():
        if value is not None and value != "":
            if name not in ENV_NAMES:
                raise UsageError(f"unknown setting {name!r}")
            values[name] = value
    if "root" in values:
        values["root"] = Path(str(values["root"])).expanduser()
    for name in ENV_NAMES:
        if name in _NUMBERS and name in values:
            values[name] = _seconds(name, values[name])
        elif name != "root" and name in values:
            values[name] = check_url(name, str(values[name]).rstrip("/"))
    return dataclasses.replace(Settings(), **values)  # type: ignore[arg-type]
