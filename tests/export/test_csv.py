"""CSV export: the archive's keys and column names, one file per partition (or per daily file), header
always, times as the archive writes them (epoch ms) or ISO 8601; every row equals the lake's."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Market
from binance_lake.lake import Lake
from tests.export.conftest import DELISTED, FIRST, LAST

KLINES = "data/futures/um/monthly/klines/{s}/1h/{s}-1h-2023-10.csv"


def read(path: Path) -> pa.Table:
    names = path.read_text().splitlines()[0].split(",")
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    return pacsv.read_csv(io.BytesIO(path.read_bytes()), convert_options=options)


def test_klines_one_file_per_partition_in_the_archive_layout(export_lake: Lake, tmp_path: Path) -> None:
    report = export_lake.export_csv(
        out=tmp_path, start=str(FIRST), end=str(LAST), intervals="1h", symbols=f"BTCUSDT,{DELISTED}"
    )
    assert report.files_written == 2 and report.symbols == ["BTCUSDT", DELISTED]
    path = tmp_path / KLINES.format(s="BTCUSDT")
    header = path.read_text().splitlines()[0]
    assert header == ",".join(
        get_dataset("klines").layout(Market.UM).names[:-1]
    )  # the archive's, no `ignore`
    rows = read(path)
    lake = export_lake.load("klines", "BTCUSDT", FIRST, LAST, interval="1h", as_="arrow")
    assert rows.num_rows == lake.num_rows == 240
    millis = [int(t.timestamp() * 1000) for t in lake.column("open_time").to_pylist()]
    assert [int(v) for v in rows.column("open_time").to_pylist()] == millis
    assert [float(v) for v in rows.column("close").to_pylist()] == lake.column("close").to_pylist()
    assert [int(v) for v in rows.column("count").to_pylist()] == lake.column("count").to_pylist()
    assert read(tmp_path / KLINES.format(s=DELISTED)).num_rows == 5 * 24  # ends at its delisting


def test_per_file_and_iso(export_lake: Lake, tmp_path: Path) -> None:
    report = export_lake.export_csv(
        out=tmp_path,
        start="2023-10-16",
        end="2023-10-17",
        intervals="1h",
        symbols="BTCUSDT",
        per_file=True,
        iso=True,
    )
    assert report.files_written == 2
    day = tmp_path / "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2023-10-16.csv"
    rows = read(day)
    assert rows.num_rows == 24
    assert rows.column("open_time")[0].as_py() == "2023-10-16T00:00:00.000Z"
    assert rows.column("close_time")[0].as_py() == "2023-10-16T00:59:59.999Z"


def test_tick_data_one_file_a_day(export_lake: Lake, tmp_path: Path) -> None:
    report = export_lake.export_csv(
        out=tmp_path, datasets="aggTrades", start="2023-10-16", end="2023-10-16", symbols="BTCUSDT"
    )
    path = tmp_path / "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-10-16.csv"
    lake = export_lake.load("aggTrades", "BTCUSDT", "2023-10-16", "2023-10-16", as_="arrow")
    assert report.files_written == 1 and read(path).num_rows == lake.num_rows > 0
    assert read(path).column_names == list(get_dataset("aggTrades").schema(Market.UM).names)


def test_refusals(export_lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --intervals"):
        export_lake.export_csv(out=tmp_path, start=str(FIRST), symbols="BTCUSDT")
    with pytest.raises(UsageError):
        export_lake.export_csv(out=tmp_path, start=str(FIRST), datasets="nope", symbols="BTCUSDT")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        export_lake.export_csv(out=tmp_path / "file", start=str(FIRST), intervals="1h", symbols="BTCUSDT")
    _ = dt
