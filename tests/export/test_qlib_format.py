"""Qlib's format as dump_bin writes it: calendars, `all.txt`, lower-case feature folders, float32 bins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.export import qlib_format as fmt
from binance_lake.export.qlib_format import Freq, Span


def test_calendar_lines_are_every_bar_in_qlib_formats() -> None:
    first = dt.datetime(2024, 2, 28, 23, 0)
    assert fmt.calendar_lines(first, 3, Freq.MIN60).decode().splitlines() == [
        "2024-02-28 23:00:00",
        "2024-02-29 00:00:00",
        "2024-02-29 01:00:00",
    ]
    assert fmt.calendar_lines(dt.datetime(2024, 2, 28), 3, Freq.DAY).decode() == (
        "2024-02-28\n2024-02-29\n2024-03-01\n"
    )
    for freq in Freq:
        assert len(fmt.calendar_lines(first, 5, freq)) == 5 * freq.line_bytes


def test_bin_is_start_index_then_values_little_endian_float32() -> None:
    values = np.array([1.5, np.nan, 3.25], dtype=np.float32)
    data = fmt.bin_bytes(7, values)
    decoded = np.frombuffer(data, dtype="<f4")
    assert decoded[0] == 7.0
    assert np.array_equal(decoded[1:], values, equal_nan=True)
    assert len(data) == fmt.bin_size(3)


def test_feature_folders_are_lower_case_and_device_names_prefixed(tmp_path: Path) -> None:
    assert fmt.bin_path(tmp_path, "BINANCE_UM.BTCUSDT", "close", Freq.MIN1) == (
        tmp_path / "features" / "binance_um.btcusdt" / "close.1min.bin"
    )
    assert fmt.feature_dir(tmp_path, "CON").name == "_qlib_con"
    assert fmt.instrument_name("binance_um.", "BTCUSDT") == "BINANCE_UM.BTCUSDT"


@pytest.mark.parametrize("text", ["1h", "hour", "60m", "1d"])
def test_freq_names_are_qlibs_own(text: str) -> None:
    with pytest.raises(UsageError, match="1min, 60min or day"):
        fmt.parse_freq(text)
    assert [fmt.parse_freq(f.value) for f in Freq] == list(Freq)


moments = st.datetimes(min_value=dt.datetime(2017, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@given(st.dictionaries(st.from_regex(r"[A-Z0-9_.]{1,12}", fullmatch=True), st.tuples(moments, moments)))
def test_instruments_round_trip(spans: dict[str, tuple[dt.datetime, dt.datetime]]) -> None:
    wanted = {n: Span(min(a, b), max(a, b)) for n, (a, b) in spans.items()}
    text = fmt.instruments_text(wanted)
    for line in text.decode().splitlines():
        _name, start, end = line.split("\t")
        assert len(start) == len(end) == 19  # full timestamps, also for day data (the minute-data trap)
    path = Path("/nonexistent")
    assert fmt.read_instruments(path) == {}
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "all.txt"
        target.write_bytes(text)
        assert fmt.read_instruments(target) == wanted
