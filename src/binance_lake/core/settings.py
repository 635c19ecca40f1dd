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

    [schedule]                    # the daemon's jobs: cron expressions in UTC, or "off"
    update = "0 2 * * *"

    [defaults]                    # used when a command's flag is absent (seed 001's configure_defaults)
    market = "um"                 # --market (default um)
    datasets = ["klines"]         # --datasets (default klines)
    intervals = ["1h"]            # --intervals (default none: klines then need the flag)
    symbols = "@top"              # --symbols of `sync` when neither it nor --all is given (default none)

Each default also has an environment variable: BINANCE_LAKE_MARKET, BINANCE_LAKE_DATASETS,
BINANCE_LAKE_INTERVALS, BINANCE_LAKE_SYMBOLS (lists comma-separated). `explain_settings` says where each
resolved value came from (`binance-lake config show`).

    [quality]                     # thresholds of `binance-lake check`'s rules (quality/rules.py)
    outlier_move = 0.10

    [export.qlib]                 # the daemon's export jobs (ops/exports.py): the `export` options as keys
    freq = "day"                  # (one table, or [[export.qlib]] for several)
    out = "qlib/day"
    start = "2024-01-01"

    [stream]                      # the daemon's supervised stream (ops/stream.py): the `stream` options
    symbols = "@top"

    [alerts]                      # thresholds whose breach makes `health` fail (quality/alerts.py)
    max_failed_files = 0
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
from binance_lake.core.storage_settings import StorageSettings, resolve_storage, storage_values
from binance_lake.core.symbols import expand_symbol_list, normalize_symbol, split_list
from binance_lake.core.vocabulary import parse_interval, parse_market

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

    dstream_url: str = "wss://dstream.binance.com"
    """COIN-M futures WebSocket streams. Env `BINANCE_LAKE_DSTREAM_URL`."""

    stall_timeout: float = 120.0
    """Seconds a run waits with requests outstanding and no answer or byte from the server before it gives up
    (the state is recorded; the same command resumes). Env `BINANCE_LAKE_STALL_TIMEOUT`."""

    symbol_sets: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Named symbol sets from the `[symbols]` table of the config file (`--symbols @name`)."""

    schedule: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The daemon's `[schedule]` table: job name -> cron expression (UTC) or "off" (`binance_lake.ops`)."""

    default_market: str = "um"
    """The market of a command without `--market`. `[defaults] market`, env `BINANCE_LAKE_MARKET`."""

    default_datasets: tuple[str, ...] = ("klines",)
    """The datasets of a sync without `--datasets`. `[defaults] datasets`, env `BINANCE_LAKE_DATASETS`."""

    default_intervals: tuple[str, ...] = ()
    """The intervals of a sync without `--intervals` (none: kline datasets then need the flag).
    `[defaults] intervals`, env `BINANCE_LAKE_INTERVALS`."""

    default_symbols: str | None = None
    """A `--symbols` value (names, `@set`s, `@file:PATH`) for a `sync` given neither `--symbols` nor `--all`.
    `[defaults] symbols`, env `BINANCE_LAKE_SYMBOLS`."""

    quality: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Thresholds of the quality rules from the `[quality]` table of the config file (rule name = number;
    `binance_lake.quality.rules` checks the names)."""

    exports: Mapping[str, tuple[Mapping[str, object], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """The `[export.<kind>]` tables (kind: qlib, postgres), each a list of option tables: the daemon's export
    jobs (`binance_lake.ops.exports` checks the keys)."""

    stream: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """The `[stream]` table: the daemon's supervised stream job (`binance_lake.ops.stream` checks the keys)."""

    alerts: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """The `[alerts]` table: thresholds `health` judges (`binance_lake.quality.alerts` checks the keys)."""

    storage: StorageSettings = field(default_factory=StorageSettings)
    """The object store of an `s3://bucket/prefix` root (`root` is then its local state directory) and the
    `[storage]` table: endpoint_url, region, state_dir (core/storage_settings.py)."""

    def expand_symbols(self, text: str, market: str | None = None) -> list[str]:
        """Parse a `--symbols` value: names (ccxt's `BTC/USDT:USDT` too, mapped for `market`), `@set` references
        and `@file:PATH`, comma-separated (`core.symbols.expand_symbol_list`)."""
        return expand_symbol_list(text, self.symbol_sets, market=market, config_name=CONFIG_FILE_NAME)


ENV_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "root": "BINANCE_LAKE_ROOT",
        "archive_url": "BINANCE_LAKE_ARCHIVE_URL",
        "listing_url": "BINANCE_LAKE_LISTING_URL",
        "fapi_url": "BINANCE_LAKE_FAPI_URL",
        "dapi_url": "BINANCE_LAKE_DAPI_URL",
        "spot_api_url": "BINANCE_LAKE_SPOT_API_URL",
        "fstream_url": "BINANCE_LAKE_FSTREAM_URL",
        "dstream_url": "BINANCE_LAKE_DSTREAM_URL",
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
        name: ("ws", "wss") if name in ("fstream_url", "dstream_url") else ("http", "https")
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


DEFAULT_ENV_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "market": "BINANCE_LAKE_MARKET",
        "datasets": "BINANCE_LAKE_DATASETS",
        "intervals": "BINANCE_LAKE_INTERVALS",
        "symbols": "BINANCE_LAKE_SYMBOLS",
    }
)
"""The `[defaults]` keys and their environment variables; the field of `Settings` is `default_<key>`."""


def _default_value(key: str, value: object, where: str) -> object:
    """A `[defaults]` value (from the file, or the environment's text) in its `Settings` type, checked."""
    if key == "market":
        if not isinstance(value, str):
            raise UsageError(f'market in {where} must be a market name such as "um"')
        return parse_market(value).value
    if key == "symbols":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str) or not split_list(value):
            raise UsageError(
                f'symbols in {where} must be a --symbols value such as "@top" or a list of symbols'
            )
        return ",".join(split_list(value))
    if isinstance(value, str):
        value = split_list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(
            f'{key} in {where} must be a list of names such as ["klines"] or one comma-separated string'
        )
    names = [v.strip() for v in value if v.strip()]
    return tuple(parse_interval(n).value for n in names) if key == "intervals" else tuple(names)


def _defaults(path: Path, table: object) -> dict[str, object]:
    if not isinstance(table, dict):
        raise UsageError(f"[defaults] in {path} must be a table of market, datasets, intervals, symbols")
    values: dict[str, object] = {}
    for key, value in table.items():
        if key not in DEFAULT_ENV_NAMES:
            raise UsageError(
                f"unknown default {key!r} in [defaults] of {path} (known: {', '.join(DEFAULT_ENV_NAMES)})"
            )
        values[f"default_{key}"] = _default_value(key, value, f"[defaults] of {path}")
    return values


def _thresholds(path: Path, table: object) -> Mapping[str, float]:
    if not isinstance(table, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
    ):
        raise UsageError(f"[quality] in {path} must be a table of rule = number")
    return MappingProxyType({str(k): float(v) for k, v in table.items()})


def _table(path: Path, name: str, table: object) -> Mapping[str, object]:
    if not isinstance(table, dict):
        raise UsageError(f"[{name}] in {path} must be a table of key = value")
    return MappingProxyType({str(k): v for k, v in table.items()})


def _exports(path: Path, table: object) -> Mapping[str, tuple[Mapping[str, object], ...]]:
    """`[export.qlib]` / `[[export.qlib]]`, …: per kind, its option tables (checked by the daemon)."""
    if not isinstance(table, dict):
        raise UsageError(f"[export] in {path} must hold tables such as [export.qlib]")
    kinds: dict[str, tuple[Mapping[str, object], ...]] = {}
    for kind, value in table.items():
        items = value if isinstance(value, list) else [value]
        kinds[str(kind)] = tuple(_table(path, f"export.{kind}", item) for item in items)
    return MappingProxyType(kinds)


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
        elif key == "defaults":
            values.update(_defaults(path, value))
        elif key == "schedule":
            if not isinstance(value, dict):
                raise UsageError(f'[schedule] in {path} must be a table of job = "cron expression"')
            values["schedule"] = MappingProxyType({str(k): str(v) for k, v in value.items()})
        elif key == "quality":
            values["quality"] = _thresholds(path, value)
        elif key == "storage":
            values["storage"] = storage_values(value, str(path))
        elif key == "export":
            values["exports"] = _exports(path, value)
        elif key in ("stream", "alerts"):
            values[key] = _table(path, key, value)
        elif key in ENV_NAMES:
            values[key] = str(value)
        else:
            known = ", ".join([*ENV_NAMES, "symbols", "defaults", "schedule", "quality", "export", "stream"])
            known += ", alerts, storage"
            raise UsageError(f"unknown setting {key!r} in {path} (known: {known})")
    return values


@dataclass(frozen=True)
class Resolved:
    """One resolved setting, for `config show`: its name as the config file spells it, its value as text and
    where it came from (`flag --root`, `env BINANCE_LAKE_ROOT`, `file PATH`, `default`)."""

    name: str
    value: str
    source: str


def _resolve(
    flags: Mapping[str, str | Path | None] | None,
    environ: Mapping[str, str] | None,
    config: str | None,
    cwd: Path | None,
) -> tuple[Settings, dict[str, str]]:
    flags = flags or {}
    environ = os.environ if environ is None else environ
    path = _config_path(config, environ, cwd or Path.cwd())
    values = _file_values(path) if path is not None else {}
    sources = dict.fromkeys(values, f"file {path}")
    for name, env_name in ENV_NAMES.items():
        if environ.get(env_name):
            values[name], sources[name] = environ[env_name], f"env {env_name}"
    for key, env_name in DEFAULT_ENV_NAMES.items():
        if environ.get(env_name):
            values[f"default_{key}"] = _default_value(key, environ[env_name], env_name)
            sources[f"default_{key}"] = f"env {env_name}"
    for name, value in flags.items():
        if value is not None and value != "":
            if name not in ENV_NAMES:
                raise UsageError(f"unknown setting {name!r}")
            values[name], sources[name] = value, f"flag --{name.replace('_', '-')}"
    storage_file = values.pop("storage", {})
    assert isinstance(storage_file, dict)
    root, values["storage"] = resolve_storage(
        str(values["root"]) if "root" in values else None, storage_file, environ
    )
    if root is not None:
        values["root"] = root
    for name in ENV_NAMES:
        if name in _NUMBERS and name in values:
            values[name] = _seconds(name, values[name])
        elif name != "root" and name in values:
            values[name] = check_url(name, str(values[name]).rstrip("/"))
    return dataclasses.replace(Settings(), **values), sources  # type: ignore[arg-type]


def with_root(settings: Settings, root: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """`settings` for another root, local or `s3://bucket/prefix` (its state directory becomes `root`)."""
    environ = os.environ if environ is None else environ
    file_values = {k: v for k, v in vars(settings.storage).items() if k != "url" and v is not None}
    if settings.storage.url is not None:
        file_values.pop("state_dir", None)  # the old root's own state directory
    local, storage = resolve_storage(str(root) if isinstance(root, str) else root, file_values, environ)
    assert local is not None
    return dataclasses.replace(settings, root=local, storage=storage)


def resolve_settings(
    flags: Mapping[str, str | Path | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build `Settings` from flags, the environment, the config file and the defaults, in that order."""
    return _resolve(flags, environ, config, cwd)[0]


def _text(value: object, *, sets: bool = False) -> str:
    if isinstance(value, tuple | list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, Mapping) and sets:
        return "; ".join(f"@{name} = {','.join(members)}" for name, members in sorted(value.items()))
    if isinstance(value, Mapping):
        # A table ([schedule], [quality], [stream], …) as `key = value` pairs, nested tables in braces.
        pairs = (
            f"{k} = {{{_text(v)}}}" if isinstance(v, Mapping | tuple) else f"{k} = {_text(v)}"
            for k, v in value.items()
        )
        return "; ".join(pairs)
    return "" if value is None else str(value)


def explain_settings(
    flags: Mapping[str, str | Path | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | None = None,
    cwd: Path | None = None,
) -> list[Resolved]:
    """Every setting as `resolve_settings` resolves it, with where its value came from, in `Settings` order
    (`[defaults]` keys as `defaults.market`, …; the `[symbols]` sets as `symbols`)."""
    settings, sources = _resolve(flags, environ, config, cwd)
    shown = []
    for item in dataclasses.fields(Settings):
        name = item.name
        label = {"symbol_sets": "symbols", "exports": "export"}.get(name) or (
            f"defaults.{name.removeprefix('default_')}" if name.startswith("default_") else name
        )
        text = _text(getattr(settings, name), sets=name == "symbol_sets")
        shown.append(Resolved(label, text, sources.get(name, "default")))
    return shown
