from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings, check_root, explain_settings, resolve_settings


def test_defaults_are_the_real_endpoints(tmp_path: Path) -> None:
    s = resolve_settings(environ={}, cwd=tmp_path)
    assert s.archive_url == "https://data.binance.vision"
    assert s.listing_url == "https://s3-ap-northeast-1.amazonaws.com/data.binance.vision"
    assert s.fapi_url == "https://fapi.binance.com"
    assert s.dapi_url == "https://dapi.binance.com"
    assert s.spot_api_url == "https://api.binance.com"
    assert s.fstream_url == "wss://fstream.binance.com"
    assert s.root == Path("~/.binance-lake").expanduser()


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    (tmp_path / "binance-lake.toml").write_text(
        'archive_url = "http://file"\nfapi_url = "http://file-fapi"\ndapi_url = "http://file-dapi"\n'
        '[symbols]\ntop = ["btcusdt", "ETHUSDT"]\n'
    )
    env = {"BINANCE_LAKE_ARCHIVE_URL": "http://env/", "BINANCE_LAKE_FAPI_URL": "http://env-fapi"}
    s = resolve_settings(
        {"archive_url": "http://flag", "root": str(tmp_path / "lake")}, environ=env, cwd=tmp_path
    )
    assert s.archive_url == "http://flag"
    assert s.fapi_url == "http://env-fapi"
    assert s.dapi_url == "http://file-dapi"
    assert s.spot_api_url == Settings().spot_api_url
    assert s.root == tmp_path / "lake"
    assert s.expand_symbols("@top,SOLUSDT,btcusdt") == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_config_named_by_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('root = "/tmp/x"\n')
    s = resolve_settings(environ={"BINANCE_LAKE_CONFIG": str(config)}, cwd=tmp_path / "nowhere")
    assert s.root == Path("/tmp/x")


def test_bad_config_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "binance-lake.toml").write_text("archive_urll = 'x'\n")
    with pytest.raises(UsageError, match="unknown setting 'archive_urll'"):
        resolve_settings(environ={}, cwd=tmp_path)
    (tmp_path / "binance-lake.toml").write_text("archive_url = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        resolve_settings(environ={}, cwd=tmp_path)


def test_unknown_symbol_set(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown symbol set @top35"):
        resolve_settings(environ={}, cwd=tmp_path).expand_symbols("@top35")
    with pytest.raises(UsageError, match="invalid symbol"):
        resolve_settings(environ={}, cwd=tmp_path).expand_symbols("BTC-USDT")


def test_pair_of_contracts() -> None:
    from binance_lake.core.symbols import pair_of

    assert pair_of("BTCUSD_PERP") == "BTCUSD"
    assert pair_of("BTCUSDT_230929") == "BTCUSDT"
    assert pair_of("ETHUSDT") == "ETHUSDT"
    assert pair_of("CVCUSDTSETTLED") == "CVCUSDTSETTLED"


def test_stall_timeout_precedence_and_validation(tmp_path: Path) -> None:
    assert resolve_settings(environ={}, cwd=tmp_path).stall_timeout == 120.0
    (tmp_path / "binance-lake.toml").write_text("stall_timeout = 30\n")
    assert resolve_settings(environ={}, cwd=tmp_path).stall_timeout == 30.0
    env = {"BINANCE_LAKE_STALL_TIMEOUT": "45.5"}
    assert resolve_settings(environ=env, cwd=tmp_path).stall_timeout == 45.5
    assert resolve_settings({"stall_timeout": "2"}, environ=env, cwd=tmp_path).stall_timeout == 2.0
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(UsageError, match="stall_timeout must be a positive number of seconds"):
            resolve_settings(environ={"BINANCE_LAKE_STALL_TIMEOUT": bad}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("archive_url", "ftp://x"),
        ("listing_url", "file:///etc"),
        ("fapi_url", "x.example.com"),
        ("dapi_url", "http:///no-host"),
        ("fstream_url", "https://fstream.binance.com"),
    ],
)
def test_endpoints_with_the_wrong_scheme_are_refused_naming_the_setting(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(UsageError, match=f"--{name.replace('_', '-')} / BINANCE_LAKE_{name.upper()}"):
        resolve_settings({name: value}, environ={}, cwd=tmp_path)
    env = {f"BINANCE_LAKE_{name.upper()}": value}
    with pytest.raises(UsageError, match=re.escape(repr(value))):
        resolve_settings(environ=env, cwd=tmp_path)


def test_http_https_and_ws_endpoints_are_accepted(tmp_path: Path) -> None:
    s = resolve_settings(
        {
            "archive_url": "HTTPS://mirror/",
            "fapi_url": "http://127.0.0.1:8080",
            "fstream_url": "ws://127.0.0.1:9",
        },
        environ={},
        cwd=tmp_path,
    )
    assert (s.archive_url, s.fapi_url, s.fstream_url) == (
        "HTTPS://mirror",
        "http://127.0.0.1:8080",
        "ws://127.0.0.1:9",
    )


def test_a_root_that_cannot_be_a_lake_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        check_root(tmp_path / "file")
    with pytest.raises(UsageError, match=r"is inside .*file, which is a file"):
        check_root(tmp_path / "file" / "lake")
    for kernel in ("/proc/lake", "/sys/x", "/dev/shm/lake"):
        with pytest.raises(UsageError, match="kernel file system"):
            check_root(Path(kernel))
    assert check_root(tmp_path / "new" / "lake") == tmp_path / "new" / "lake"  # created later, by a writer
    assert check_root(tmp_path) == tmp_path


def test_command_defaults_from_file_and_env(tmp_path: Path) -> None:
    (tmp_path / "binance-lake.toml").write_text(
        '[symbols]\nmajors = ["BTCUSDT"]\n'
        '[defaults]\nmarket = "SPOT"\ndatasets = ["klines", "aggTrades"]\nintervals = "1h, 1M"\n'
        'symbols = ["@majors", "ethusdt"]\n'
    )
    s = resolve_settings(environ={}, cwd=tmp_path)
    assert (s.default_market, s.default_datasets, s.default_intervals) == (
        "spot",
        ("klines", "aggTrades"),
        ("1h", "1mo"),
    )
    assert s.default_symbols == "@majors,ethusdt"
    env = {"BINANCE_LAKE_MARKET": "cm", "BINANCE_LAKE_INTERVALS": "1d", "BINANCE_LAKE_SYMBOLS": "BTCUSD_PERP"}
    s = resolve_settings(environ=env, cwd=tmp_path)
    assert (s.default_market, s.default_intervals, s.default_symbols) == ("cm", ("1d",), "BTCUSD_PERP")
    assert s.default_datasets == ("klines", "aggTrades")  # the file's, no env for it
    plain = resolve_settings(environ={}, cwd=tmp_path / "nowhere")
    assert (plain.default_market, plain.default_datasets, plain.default_intervals) == ("um", ("klines",), ())
    assert plain.default_symbols is None


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ('market = "futures"', "unknown market"),
        ("market = 3", "market in \\[defaults\\]"),
        ('intervals = ["2x"]', "interval"),
        ("datasets = [1]", "datasets in \\[defaults\\] of .* must be a list of names"),
        ('symbols = ""', "symbols in \\[defaults\\]"),
        ('colour = "red"', "unknown default 'colour'"),
    ],
)
def test_bad_defaults_are_one_sentence(tmp_path: Path, defaults: str, message: str) -> None:
    (tmp_path / "binance-lake.toml").write_text(f"[defaults]\n{defaults}\n")
    with pytest.raises(UsageError, match=message):
        resolve_settings(environ={}, cwd=tmp_path)


def test_explain_says_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text(
        'archive_url = "http://file"\n[symbols]\nmajors = ["BTCUSDT"]\n[defaults]\nmarket = "spot"\n'
    )
    env = {"BINANCE_LAKE_FAPI_URL": "http://env-fapi", "BINANCE_LAKE_DATASETS": "fundingRate"}
    rows = {
        r.name: (r.value, r.source)
        for r in explain_settings({"root": str(tmp_path / "x")}, environ=env, cwd=tmp_path)
    }
    assert rows["root"] == (str(tmp_path / "x"), "flag --root")
    assert rows["archive_url"] == ("http://file", f"file {config}")
    assert rows["fapi_url"] == ("http://env-fapi", "env BINANCE_LAKE_FAPI_URL")
    assert rows["dapi_url"] == ("https://dapi.binance.com", "default")
    assert rows["symbols"] == ("@majors = BTCUSDT", f"file {config}")
    assert rows["defaults.market"] == ("spot", f"file {config}")
    assert rows["defaults.datasets"] == ("fundingRate", "env BINANCE_LAKE_DATASETS")
    assert rows["defaults.intervals"] == ("", "default")
    assert rows["stall_timeout"] == ("120.0", "default")
    # every field of Settings is shown, and shown values are the resolved ones
    assert len(rows) == len(dataclasses.fields(Settings))


def test_quality_thresholds_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "binance-lake.toml"
    config.write_text("[quality]\noutlier_move = 0.2\nday_rows_low = 1\n")
    settings = resolve_settings(config=str(config), environ={})
    assert dict(settings.quality) == {"outlier_move": 0.2, "day_rows_low": 1.0}
    config.write_text('[quality]\noutlier_move = "big"\n')
    with pytest.raises(UsageError, match=r"\[quality\] .* must be a table of rule = number"):
        resolve_settings(config=str(config), environ={})
