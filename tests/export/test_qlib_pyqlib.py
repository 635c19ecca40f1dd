"""The Qlib export read by the real library: pyqlib 0.9.7 in its own venv (`.venv-qlib`, made by
tools/components/30-pyqlib.sh) runs `qlib.init` + `D.features([...], ['$close', '$volume', '$vwap',
'Ref($close, 1)'], freq=...)` for each freq, and every value equals the lake's as float32, for a listed and a
delisted symbol; `D.list_instruments` ends the delisted one at its last bar."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from binance_lake.lake import Lake
from tests.components import require
from tests.export.conftest import DELISTED, FIRST, LAST, MINUTES, SYMBOLS

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("BINANCE_LAKE_QLIB_VENV", REPO / ".venv-qlib"))
READER = Path(__file__).with_name("qlib_reader.py")
SAMPLE = ("BTCUSDT", DELISTED)

pytestmark = pytest.mark.slow  # three pyqlib processes, ~3 s each


def pyqlib(
    out: Path, freq: str, start: str, end: str
) -> tuple[dict[str, list[list[str]]], list[dict[str, object]]]:
    python = VENV / "bin" / "python"
    require(python.exists(), f"pyqlib in {VENV}", "bash tools/components/30-pyqlib.sh")
    names = [f"binance_um.{s}" for s in SAMPLE]
    done = subprocess.run(
        [str(python), str(READER), str(out), freq, start, end, *names],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},  # pyqlib's venv, without this tree on its path
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return lines[0]["instruments"], lines[1:]


def f32(value: float) -> float:
    return float(np.float32(value))


@pytest.mark.parametrize(
    ("freq", "interval", "first", "last"),
    [("1min", "1m", *MINUTES), ("60min", "1h", FIRST, LAST), ("day", "1d", FIRST, LAST)],
)
def test_pyqlib_reads_the_lake_values(
    export_lake: Lake, tmp_path: Path, freq: str, interval: str, first: dt.date, last: dt.date
) -> None:
    out = tmp_path / "qlib"
    export_lake.export_qlib(freq=freq, out=out, symbols=",".join(SYMBOLS), start=str(first), end=str(last))
    end = f"{last} 23:59:00"
    instruments, rows = pyqlib(out, freq, f"{first} 00:00:00", end)
    got: dict[str, dict[str, list[float | None]]] = {}
    for row in rows:
        got.setdefault(str(row["instrument"]).upper(), {})[str(row["time"])] = row["values"]  # type: ignore[assignment]
    for symbol in SAMPLE:
        table = export_lake.load("klines", symbol, first, last, interval=interval, as_="arrow")
        times = [t.replace(tzinfo=None).isoformat() for t in table.column("open_time").to_pylist()]
        close = table.column("close").to_pylist()
        volume = table.column("volume").to_pylist()
        amount = table.column("quote_volume").to_pylist()
        seen = got[f"BINANCE_UM.{symbol}"]
        assert sorted(seen) == times, symbol  # every bar, nothing after a delisting
        for i, moment in enumerate(times):
            want = [
                f32(close[i]),
                f32(volume[i]),
                f32(amount[i] / volume[i]) if volume[i] > 0 else None,
                f32(close[i - 1]) if i else None,
            ]
            assert seen[moment] == want, (symbol, moment)
    spans = {name.upper(): span for name, span in instruments.items()}
    last_bar = {"1min": "23:59:00", "60min": "23:00:00", "day": "00:00:00"}[freq]
    assert spans[f"BINANCE_UM.{DELISTED}"][0][1] == f"2023-10-19 {last_bar}"
    assert spans["BINANCE_UM.BTCUSDT"][0][1] == f"{last} {last_bar}"
