"""Qlib export against the simulator's lake: every `.bin` value equals the lake's (float32) on a 24/7
calendar, NaN rows for missing bars, delisted symbols ending at their last bar, 60min filled from 1m, and an
incremental export byte-identical to a fresh one (appended in place, rewritten when the history changed)."""

from __future__ import annotations

import datetime as dt
import filecmp
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from binance_lake.core.errors import UsageError
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.provenance import Provenance
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.export import qlib_format as fmt
from binance_lake.export.qlib_format import FIELDS, Freq
from binance_lake.lake import Lake
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.provenance import DayRecord, record_days
from binance_lake.storage.schema import ensure_schema
from tests.export.conftest import DELISTED, FIRST, LAST, MINUTES, SYMBOLS
from tests.load.lakes import LakeBuilder, bars

UTC = dt.UTC
LAKE_COLUMNS = {f: c for f, c in fmt.COLUMNS.items()}


def decoded(out: Path, symbol: str, field: str, freq: Freq) -> dict[dt.datetime, float]:
    """One `.bin` as {bar open time: value}, read the way Qlib reads it (calendar index + float32s)."""
    calendar = (
        [dt.datetime.fromisoformat(line) for line in fmt.calendar_path(out, freq).read_text().split()]
        if (freq is Freq.DAY)
        else [
            dt.datetime.fromisoformat(line) for line in fmt.calendar_path(out, freq).read_text().splitlines()
        ]
    )
    data = np.fromfile(fmt.bin_path(out, f"binance_um.{symbol}", field, freq), dtype="<f4")
    start = int(data[0])
    return {calendar[start + i]: float(v) for i, v in enumerate(data[1:])}


def lake_bars(lake: Lake, symbol: str, interval: str, first: dt.date, last: dt.date) -> pa.Table:
    return lake.load("klines", symbol, first, last, interval=interval, as_="arrow")


def expected(table: pa.Table) -> dict[str, dict[dt.datetime, float]]:
    """The lake's rows as Qlib's fields, float32 as Qlib stores them, keyed by naive UTC open time."""
    times = [t.replace(tzinfo=None) for t in table.column("open_time").to_pylist()]
    result: dict[str, dict[dt.datetime, float]] = {}
    for field, column in LAKE_COLUMNS.items():
        values = np.asarray(table.column(column).to_numpy(), dtype=np.float64).astype(np.float32)
        result[field] = dict(zip(times, values.astype(float).tolist(), strict=True))
    amount = np.asarray(table.column("quote_volume").to_numpy(), dtype=np.float64)
    volume = np.asarray(table.column("volume").to_numpy(), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = np.where(volume > 0, amount / volume, np.nan).astype(np.float32)
    result["vwap"] = dict(zip(times, vwap.astype(float).tolist(), strict=True))
    result["factor"] = dict.fromkeys(times, 1.0)
    return result


def same(a: dict[dt.datetime, float], b: dict[dt.datetime, float]) -> bool:
    return a.keys() == b.keys() and all((np.isnan(a[k]) and np.isnan(b[k])) or a[k] == b[k] for k in a)


def tree_equal(a: Path, b: Path) -> bool:
    """The Qlib files of two exports are byte-identical (the export record aside)."""

    def files(root: Path) -> set[Path]:
        return {
            p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".binance-lake" not in p.parts
        }

    return files(a) == files(b) and all(filecmp.cmp(a / p, b / p, shallow=False) for p in files(a))


def export(lake: Lake, out: Path, freq: str, end: dt.date = LAST, **kw: object) -> dict[str, object]:
    kw.setdefault("symbols", ",".join(SYMBOLS))
    return lake.export_qlib(
        freq=freq, out=out, start=str(kw.pop("start", FIRST)), end=str(end), **kw
    ).summary()  # type: ignore[arg-type]


def test_60min_bins_equal_the_lake_on_a_24_7_calendar(export_lake: Lake, out: Path) -> None:
    summary = export(export_lake, out, "60min")
    assert summary["new"] == list(SYMBOLS)
    calendar = fmt.calendar_path(out, Freq.MIN60).read_text().splitlines()
    assert calendar[0] == "2023-10-15 00:00:00" and calendar[-1] == "2023-10-24 23:00:00"
    assert len(calendar) == 240  # every hour, the weekend of 10-21/22 included
    for symbol in ("BTCUSDT", DELISTED):
        want = expected(lake_bars(export_lake, symbol, "1h", FIRST, LAST))
        for field in FIELDS:
            assert same(decoded(out, symbol, field, Freq.MIN60), want[field]), (symbol, field)
    spans = fmt.read_instruments(fmt.instruments_path(out))
    # The delisted symbol ends at its last bar; all.txt carries full timestamps.
    assert spans[f"BINANCE_UM.{DELISTED}"].end == dt.datetime(2023, 10, 19, 23)
    assert spans["BINANCE_UM.BTCUSDT"].end == dt.datetime(2023, 10, 24, 23)
    assert "2023-10-19 23:00:00" in fmt.instruments_path(out).read_text()


def minute_filled_lake(root: Path, hour_holes: list[int], hours: int = 48) -> Lake:
    """Two days of BTCUSDT: 1h bars with `hour_holes` (and none after `hours`), 1m bars for both days."""
    builder = LakeBuilder(root)
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    hourly = bars(start, 48, Interval.H1, seed=1)
    keep = [i for i in range(min(hours, 48)) if i not in hour_holes]
    builder.put(
        "klines", "BTCUSDT", hourly.take(keep), dt.date(2024, 1, 1), dt.date(2024, 1, 2), interval=Interval.H1
    )
    minutes = bars(start, 2 * 1440, Interval.M1, seed=2)
    builder.put("klines", "BTCUSDT", minutes, dt.date(2024, 1, 1), dt.date(2024, 1, 2), interval=Interval.M1)
    builder.commit()
    ensure_schema(LakeDatabase(root))  # the builder's lake predates day provenance
    days = (dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    with LakeDatabase(root).connect() as connection:
        part = partition_for_day("klines", Market.UM, Interval.M1, "BTCUSDT", days[0])
        record_days(
            connection, [DayRecord(part, d, Provenance.ARCHIVE_DAILY, "test", None, 1440) for d in days]
        )
    return Lake(root)


def test_60min_fills_the_hours_1h_lacks_from_1m(tmp_path: Path) -> None:
    holes = [5, 6, 44, 45, 46, 47]  # inside the first day, and the second day's last hours
    lake = minute_filled_lake(tmp_path / "lake", holes)
    out = tmp_path / "qlib"
    lake.export_qlib(freq="60min", out=out, symbols="BTCUSDT", start="2024-01-01", end="2024-01-02")
    hourly = expected(lake_bars(lake, "BTCUSDT", "1h", dt.date(2024, 1, 1), dt.date(2024, 1, 2)))
    from_1m = expected(
        lake.resample("BTCUSDT", "2024-01-01", "2024-01-02", interval="1h", source="1m", as_="arrow")
    )
    filled = {dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in holes}
    for field in FIELDS:
        want = {**hourly[field], **{t: v for t, v in from_1m[field].items() if t in filled}}
        got = decoded(out, "BTCUSDT", field, Freq.MIN60)
        assert got.keys() == want.keys(), field
        assert np.allclose(list(got.values()), [want[t] for t in got], rtol=1e-6), field


def test_60min_from_1m_where_1h_stopped_appends_like_a_fresh_export(tmp_path: Path) -> None:
    lake = minute_filled_lake(tmp_path / "lake", [], hours=24)  # 1h only for the first day
    grown, fresh = tmp_path / "grown", tmp_path / "fresh"
    lake.export_qlib(freq="60min", out=grown, symbols="BTCUSDT", start="2024-01-01", end="2024-01-01T13:00")
    summary = lake.export_qlib(
        freq="60min", out=grown, symbols="BTCUSDT", start="2024-01-01", end="2024-01-02"
    )
    assert summary.summary()["appended"] == ["BTCUSDT"]
    lake.export_qlib(freq="60min", out=fresh, symbols="BTCUSDT", start="2024-01-01", end="2024-01-02")
    assert tree_equal(grown, fresh)
    assert len(decoded(fresh, "BTCUSDT", "close", Freq.MIN60)) == 48  # the second day from 1m


def test_1min_and_day_have_their_own_calendars(export_lake: Lake, out: Path) -> None:
    export(export_lake, out, "1min", start=MINUTES[0], end=MINUTES[1])
    export(export_lake, out, "day")
    minutes = fmt.calendar_path(out, Freq.MIN1).read_text().splitlines()
    assert len(minutes) == 4 * 1440 and minutes[-1] == "2023-10-21 23:59:00"
    assert fmt.calendar_path(out, Freq.DAY).read_text().splitlines()[0] == "2023-10-15"
    for symbol in ("BTCUSDT", DELISTED):
        for interval, freq, first, last in (("1m", Freq.MIN1, *MINUTES), ("1d", Freq.DAY, FIRST, LAST)):
            want = expected(lake_bars(export_lake, symbol, interval, first, last))
            for field in ("close", "volume", "vwap", "trades"):
                assert same(decoded(out, symbol, field, freq), want[field]), (symbol, freq, field)
    # all.txt is shared: each instrument spans its first to last bar in any freq, full timestamps.
    spans = fmt.read_instruments(fmt.instruments_path(out))
    assert spans["BINANCE_UM.BTCUSDT"].end == dt.datetime(2023, 10, 24)
    assert spans[f"BINANCE_UM.{DELISTED}"].end == dt.datetime(2023, 10, 19, 23, 59)


@pytest.mark.parametrize(("source", "flag"), [("1m", "from_1min"), ("1h", "from_1h")])
def test_day_from_finer_bars_is_them_summed(export_lake: Lake, out: Path, source: str, flag: str) -> None:
    export(export_lake, out, "day", start=MINUTES[0], end=MINUTES[1], symbols="BTCUSDT", **{flag: True})
    first, last = str(MINUTES[0]), str(MINUTES[1])
    built = export_lake.resample("BTCUSDT", first, last, interval="1d", source=source, as_="arrow")
    want = expected(built)
    for field in FIELDS:
        got = decoded(out, "BTCUSDT", field, Freq.DAY)
        assert got.keys() == want[field].keys()
        assert np.allclose(list(got.values()), list(want[field].values()), rtol=1e-6), (
            field
        )  # sums: float order


def test_from_1h_is_for_day_only(export_lake: Lake, out: Path) -> None:
    with pytest.raises(UsageError, match="--from-1h builds day bars"):
        export(export_lake, out, "60min", from_1h=True)


def test_missing_bars_inside_a_life_are_nan_rows_never_shifted(tmp_path: Path) -> None:
    builder = LakeBuilder(tmp_path / "lake")
    rows = bars(dt.datetime(2024, 1, 1, tzinfo=UTC), 48, Interval.H1)
    holes = {5, 6, 30}
    kept = rows.take([i for i in range(48) if i not in holes])
    builder.put("klines", "BTCUSDT", kept, dt.date(2024, 1, 1), dt.date(2024, 1, 2), interval=Interval.H1)
    builder.commit()
    lake = Lake(tmp_path / "lake")
    out = tmp_path / "qlib"
    lake.export_qlib(freq="60min", out=out, symbols="BTCUSDT", start="2024-01-01", end="2024-01-02")
    close = list(decoded(out, "BTCUSDT", "close", Freq.MIN60).values())
    assert len(close) == 48
    assert [i for i, v in enumerate(close) if np.isnan(v)] == sorted(holes)
    assert close[7] == np.float32(rows.column("close")[7].as_py())
    assert np.isnan(list(decoded(out, "BTCUSDT", "factor", Freq.MIN60).values())[30])


def test_incremental_export_appends_in_place_and_equals_a_fresh_one(
    export_lake: Lake, tmp_path: Path
) -> None:
    grown, fresh = tmp_path / "grown", tmp_path / "fresh"
    for freq in ("60min", "day"):
        export(export_lake, grown, freq, end=dt.date(2023, 10, 17))
    inode = fmt.bin_path(grown, "binance_um.BTCUSDT", "close", Freq.MIN60).stat().st_ino
    summary = export(export_lake, grown, "60min")
    assert summary["appended"] == ["BTCUSDT", "ETHUSDT", "XEMUSDT"]
    assert summary["files_written"] == 0 and summary["files_appended"] == 33
    export(export_lake, grown, "day")
    assert fmt.bin_path(grown, "binance_um.BTCUSDT", "close", Freq.MIN60).stat().st_ino == inode  # in place
    for freq in ("60min", "day"):
        export(export_lake, fresh, freq)
    assert tree_equal(grown, fresh)
    again = export(export_lake, grown, "60min")  # nothing new: nothing touched
    assert again["files_written"] == again["files_appended"] == 0 and again["files_unchanged"] == 33
    assert tree_equal(grown, fresh)


def test_a_changed_history_rewrites_that_symbol(export_lake: Lake, tmp_path: Path) -> None:
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    export(export_lake, out, "60min", end=dt.date(2023, 10, 20))
    day = dt.date(2023, 10, 16)
    partition = partition_for_day("klines", Market.UM, Interval.H1, "BTCUSDT", day)
    with LakeDatabase(export_lake.root).connect() as connection:
        before = connection.execute(
            'SELECT source, upstream_ref, etag, "rows", written_at FROM day_provenance WHERE path = ? AND day = ?',
            [partition.posix, day],
        ).fetchall()[0]
        # The day re-ingested (a re-upload): same rows, a later written-at.
        record = DayRecord(partition, day, Provenance(before[0]), before[1], before[2], before[3])
        record_days(connection, [record], now=before[4] + dt.timedelta(seconds=1))
    # A later start: the rewritten symbol keeps its recorded history, the others continue from their last bar.
    summary = export(export_lake, out, "60min", start=dt.date(2023, 10, 18))
    assert summary["rewritten"] == ["BTCUSDT"]
    assert summary["appended"] == ["ETHUSDT"]  # XEMUSDT ended before the first export's end: unchanged
    export(export_lake, fresh, "60min")
    assert tree_equal(out, fresh)
    with LakeDatabase(export_lake.root).connect() as connection:  # put the lake back for the other tests
        record_days(
            connection, [DayRecord(partition, day, Provenance(before[0]), *before[1:4])], now=before[4]
        )


def test_a_crash_mid_append_is_repaired(export_lake: Lake, tmp_path: Path) -> None:
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    export(export_lake, out, "60min", end=dt.date(2023, 10, 20))
    # A crash after some bytes were appended and before the record was written:
    with fmt.bin_path(out, "binance_um.BTCUSDT", "close", Freq.MIN60).open("ab") as handle:
        handle.write(b"\x00\x00")
    with fmt.calendar_path(out, Freq.MIN60).open("ab") as handle:
        handle.write(b"2023-10-21 00:00:00\n2023-10-2")
    summary = export(export_lake, out, "60min")
    assert summary["rewritten"] == ["BTCUSDT"]
    export(export_lake, fresh, "60min")
    assert tree_equal(out, fresh)


def test_all_leaves_out_delisted_symbols_unless_asked(export_lake: Lake, tmp_path: Path) -> None:
    listed = export_lake.export_qlib(freq="day", out=tmp_path / "a", start=str(FIRST), end=str(LAST))
    assert listed.symbols == ["BTCUSDT", "ETHUSDT"]
    everything = export_lake.export_qlib(
        freq="day", out=tmp_path / "b", start=str(FIRST), end=str(LAST), include_delisted=True
    )
    assert everything.symbols == list(SYMBOLS)


def test_refusals_are_one_sentence(export_lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "q"
    with pytest.raises(UsageError, match="1min, 60min or day"):
        export(export_lake, out, "1h")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        export(export_lake, tmp_path / "file", "60min")
    foreign = tmp_path / "foreign"
    (foreign / "calendars").mkdir(parents=True)
    (foreign / "calendars" / "60min.txt").write_text("2020-01-01 00:00:00\n")
    with pytest.raises(UsageError, match="did not write"):
        export(export_lake, foreign, "60min")
    with pytest.raises(UsageError, match="holds no 1h klines"):
        export(export_lake, out, "60min", start=dt.date(2023, 9, 1), end=dt.date(2023, 9, 3))
    export(export_lake, out, "60min", start=dt.date(2023, 10, 20), symbols="BTCUSDT")
    with pytest.raises(UsageError, match="prefix"):
        export(export_lake, out, "60min", prefix="x.")
    with pytest.raises(UsageError, match="hold bars before it"):
        export(export_lake, out, "60min", symbols="ETHUSDT")
    shutil.rmtree(out)


def test_a_write_failing_on_a_writer_thread_is_one_sentence_and_records_nothing(
    export_lake: Lake, out: Path
) -> None:
    """The `.bin` files are written on writer threads: a failure there still stops the export with one
    sentence, and no manifest records files that were not written (the next export rewrites them)."""
    from binance_lake.core.errors import StorageError
    from binance_lake.export.qlib_state import manifest_path

    blocked = fmt.feature_dir(out, fmt.instrument_name("binance_um.", "ETHUSDT"))
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")  # ETHUSDT's bins cannot be written
    with pytest.raises(StorageError, match=f"cannot write {blocked}") as raised:
        export_lake.export_qlib(freq="60min", out=out, start=str(FIRST), end=str(LAST), symbols=SYMBOLS)
    assert "\n" not in str(raised.value)
    assert not manifest_path(out, Freq.MIN60).exists()
    blocked.unlink()  # the cause removed, the next export writes everything
    report = export_lake.export_qlib(freq="60min", out=out, start=str(FIRST), end=str(LAST), symbols=SYMBOLS)
    assert report.details["new"] == sorted(SYMBOLS)
