"""The public API: `binance_lake.__all__` is exactly what users may import, every name resolves to the object
its home module defines, and importing the package stays cheap (the heavy parts load when first asked for)."""

from __future__ import annotations

import json
import subprocess
import sys

import binance_lake

PUBLIC = [
    "Batches",
    "BinanceLakeError",
    "CheckReport",
    "ExportReport",
    "Gap",
    "Health",
    "IntegrityError",
    "Lake",
    "LakeLocked",
    "Missing",
    "MissingDataWarning",
    "Phase",
    "PostgresError",
    "PostgresExportReport",
    "ProbeReport",
    "ProgressEvent",
    "ProgressSink",
    "RefreshReport",
    "Restricted",
    "SchemaTooNew",
    "Settings",
    "SourceError",
    "Stalled",
    "StorageError",
    "SyncReport",
    "UpdateReport",
    "UsageError",
    "__version__",
    "missing_of",
    "resolve_settings",
]

HOMES = {
    "Batches": "binance_lake.load.stream",
    "BinanceLakeError": "binance_lake.core.errors",
    "ExportReport": "binance_lake.export.sink",
    "CheckReport": "binance_lake.quality.run",
    "Gap": "binance_lake.load.missing",
    "Health": "binance_lake.quality.health",
    "IntegrityError": "binance_lake.core.errors",
    "Lake": "binance_lake.lake",
    "LakeLocked": "binance_lake.core.errors",
    "Missing": "binance_lake.load.missing",
    "MissingDataWarning": "binance_lake.core.errors",
    "Phase": "binance_lake.core.progress",
    "PostgresError": "binance_lake.core.errors",
    "PostgresExportReport": "binance_lake.export.postgres.export",
    "ProgressEvent": "binance_lake.core.progress",
    "ProgressSink": "binance_lake.core.progress",
    "SchemaTooNew": "binance_lake.core.errors",
    "ProbeReport": "binance_lake.catalog.probe",
    "RefreshReport": "binance_lake.catalog.refresh",
    "Restricted": "binance_lake.core.errors",
    "Settings": "binance_lake.core.settings",
    "SourceError": "binance_lake.core.errors",
    "Stalled": "binance_lake.core.errors",
    "StorageError": "binance_lake.core.errors",
    "SyncReport": "binance_lake.engine.sync",
    "UpdateReport": "binance_lake.engine.update",
    "UsageError": "binance_lake.core.errors",
    "missing_of": "binance_lake.load.missing",
    "resolve_settings": "binance_lake.core.settings",
}


def test_all_is_pinned() -> None:
    assert binance_lake.__all__ == PUBLIC  # a change here is a change of the public API: say so in the notes


def test_every_public_name_resolves_to_its_home() -> None:
    for name in PUBLIC:
        value = getattr(binance_lake, name)
        if name == "__version__":
            assert isinstance(value, str) and value
            continue
        home = sys.modules.get(HOMES[name]) or __import__(HOMES[name], fromlist=[name])
        assert value is getattr(home, name), name
    assert set(PUBLIC) <= set(dir(binance_lake))


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from binance_lake import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(PUBLIC)


def test_errors_users_catch_share_the_base_class() -> None:
    for name in (
        "IntegrityError",
        "LakeLocked",
        "PostgresError",
        "Restricted",
        "SourceError",
        "Stalled",
        "StorageError",
    ):
        assert issubclass(getattr(binance_lake, name), binance_lake.BinanceLakeError)
    assert issubclass(binance_lake.UsageError, binance_lake.BinanceLakeError)
    assert issubclass(binance_lake.MissingDataWarning, UserWarning)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        binance_lake.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("binance_lake.NoSuchThing resolved")


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import json, sys, binance_lake; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pyarrow', 'duckdb', 'aiohttp', 'pandas', 'polars') or m.startswith('binance_lake.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = json.loads(out)
    assert not [m for m in loaded if not m.startswith("binance_lake.")]
    assert all(m.split(".")[:2] == ["binance_lake", "core"] for m in loaded), loaded


def test_the_lake_class_loads_no_pandas_until_a_frame_asks_for_it() -> None:
    """`from binance_lake import Lake` imports pyarrow, DuckDB and aiohttp, not pandas (~0.15 s): the object-
    storage views import pyarrow.dataset, which pulls pandas in, only when they are built."""
    code = (
        "import sys; from binance_lake import Lake; "
        "print(sorted(m for m in ('pandas', 'pyarrow.dataset', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["['pyarrow']"]
