"""Archive CSV parsing: the real rows of reference §2.2 parse to the expected values, every dataset and
market round-trips through a CSV rendered per its layout (header or not, ms or µs, bool spelling), and
every malformed or unsafe input is rejected with an error that names the file."""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_lake.binance import csv_parse
from binance_lake.binance.csv_parse import (
    iter_batches,
    iter_csv_batches,
    label_shift,
    member_name,
    parse_csv,
    parse_file,
)
from binance_lake.binance.zip_member import open_member, unsafe_member_reason
from binance_lake.core import quirks
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import DATASETS, ColumnKind, CsvLayout
from binance_lake.core.errors import ParseError, UnsafeArchive
from binance_lake.core.vocabulary import Cadence, Interval, Market

FIXTURES = Path(__file__).parent.parent / "fixtures" / "csv"
UTC = dt.UTC
D = dt.date
SPOT, UM, CM, OPT = Market.SPOT, Market.UM, Market.CM, Market.OPTION
DAILY, MONTHLY = Cadence.DAILY, Cadence.MONTHLY


def t(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def zipped(member: str, data: bytes, *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


# (fixture, archive file, expected rows): the real rows quoted in reference §2.2.
GOLDEN: list[tuple[str, ArchiveFile, list[dict[str, Any]]]] = [
    (
        "spot-BTCUSDT-1h-2023-10-27.csv",
        ArchiveFile(SPOT, DAILY, "klines", "BTCUSDT", Interval.H1, D(2023, 10, 27)),
        [
            {
                "open_time": t(2023, 10, 27, 0, 0),
                "open": 34151.66,
                "high": 34171.28,
                "low": 33972.39,
                "close": 34015.27,
                "volume": 908.27901,
                "close_time": t(2023, 10, 27, 0, 59, 59, 999000),
                "quote_volume": 30937869.623026,
                "count": 41459,
                "taker_buy_volume": 416.48838,
                "taker_buy_quote_volume": 14187002.7055006,
            }
        ],
    ),
    (
        "spot-1s-2025-01-01.csv",
        ArchiveFile(SPOT, DAILY, "klines", "BTCUSDT", Interval.S1, D(2025, 1, 1)),
        [
            {
                "open_time": t(2025, 1, 1),
                "open": 0.316,
                "high": 0.316,
                "low": 0.316,
                "close": 0.316,
                "volume": 27.0,
                "close_time": t(2025, 1, 1, 0, 0, 0, 999999),
                "quote_volume": 8.532,
                "count": 1,
                "taker_buy_volume": 0.0,
                "taker_buy_quote_volume": 0.0,
            }
        ],
    ),
    (
        "spot-BTCUSDT-aggTrades-2026-09-05.csv",
        ArchiveFile(SPOT, DAILY, "aggTrades", "BTCUSDT", None, D(2026, 9, 5)),
        [
            {
                "agg_trade_id": 4055594388,
                "price": 79660.77,
                "quantity": 0.013,
                "first_trade_id": 6656932686,
                "last_trade_id": 6656932686,
                "transact_time": t(2026, 9, 5, 0, 0, 0, 483577),
                "is_buyer_maker": False,
                "is_best_match": True,
            }
        ],
    ),
    (
        "spot-BTCUSDT-aggTrades-2019-06-01.csv",
        ArchiveFile(SPOT, DAILY, "aggTrades", "BTCUSDT", None, D(2019, 6, 1)),
        [
            {
                "agg_trade_id": 118868570,
                "price": 8555.0,
                "quantity": 0.350561,
                "first_trade_id": 130200817,
                "last_trade_id": 130200817,
                "transact_time": t(2019, 6, 1, 0, 0, 0, 97000),
                "is_buyer_maker": True,
                "is_best_match": True,
            }
        ],
    ),
    *[
        (
            name,
            ArchiveFile(CM, DAILY, "klines", "BTCUSD_PERP", Interval.H1, D(2023, 10, 27)),
            [
                {
                    "open_time": t(2023, 10, 27),
                    "open": 34161.6,
                    "high": 34182.5,
                    "low": 33977.4,
                    "close": 34024.2,
                    "volume": 409953.0,
                    "close_time": t(2023, 10, 27, 0, 59, 59, 999000),
                    "quote_volume": 1202.97118037,
                    "count": 15095,
                    "taker_buy_volume": 192220.0,
                    "taker_buy_quote_volume": 564.12041453,
                }
            ],
        )
        for name in ("cm-BTCUSD_PERP-1h-2023-10-27.csv", "cm-BTCUSD_PERP-1h-2023-10-27-no-header.csv")
    ],
    (
        "um-BTCUSDT-aggTrades-2023-05.csv",
        ArchiveFile(UM, MONTHLY, "aggTrades", "BTCUSDT", None, D(2023, 5, 1)),
        [
            {
                "agg_trade_id": 1715206948,
                "price": 29223.0,
                "quantity": 0.639,
                "first_trade_id": 3643221425,
                "last_trade_id": 3643221428,
                "transact_time": t(2023, 5, 1, 0, 0, 0, 101000),
                "is_buyer_maker": False,
            }
        ],
    ),
    (
        "um-BTCUSDT-bookDepth-2025-05-19.csv",
        ArchiveFile(UM, DAILY, "bookDepth", "BTCUSDT", None, D(2025, 5, 19)),
        [
            {
                "timestamp": t(2025, 5, 19, 11, 7, 31),
                "percentage": -5.0,
                "depth": 7885.275,
                "notional": 647368074.3692,
            }
        ],
    ),
    (
        "cm-BTCUSD_PERP-liquidationSnapshot-2023-06-25.csv",
        ArchiveFile(CM, DAILY, "liquidationSnapshot", "BTCUSD_PERP", None, D(2023, 6, 25)),
        # Every row appears twice upstream (issues #259, #337); the parser keeps both, storage de-duplicates.
        [
            {
                "time": t(2023, 6, 25, 1, 27, 51, 926000),
                "side": "BUY",
                "order_type": "LIMIT",
                "time_in_force": "IOC",
                "original_quantity": 7.0,
                "price": 30741.3,
                "average_price": 30631.6,
                "order_status": "FILLED",
                "last_fill_quantity": 6.0,
                "accumulated_fill_quantity": 7.0,
            }
        ]
        * 2,
    ),
    (
        "cm-BTCUSD_PERP-metrics-2023-06-25.csv",
        ArchiveFile(CM, DAILY, "metrics", "BTCUSD_PERP", None, D(2023, 6, 25)),
        [
            {
                "create_time": t(2023, 6, 25),
                "sum_open_interest": 5578700.0,
                "sum_open_interest_value": 18265.00911826,
                "count_toptrader_long_short_ratio": None,
                "sum_toptrader_long_short_ratio": None,
                "count_long_short_ratio": None,
                "sum_taker_long_short_vol_ratio": 0.00855776,
            }
        ],
    ),
    (
        "option-BTCBVOLUSDT-BVOLIndex-2026-10-01.csv",
        ArchiveFile(OPT, DAILY, "BVOLIndex", "BTCBVOLUSDT", None, D(2026, 10, 1)),
        [
            {
                "calc_time": t(2026, 10, 1, 0, 0, 0, 1000),
                "base_asset": "BTCBVOL",
                "quote_asset": "USDT",
                "index_value": 37.2172,
            }
        ],
    ),
]


@pytest.mark.parametrize(("fixture", "file", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_real_rows_parse_to_the_expected_values(
    fixture: str, file: ArchiveFile, expected: list[dict[str, Any]], tmp_path: Path
) -> None:
    data = (FIXTURES / fixture).read_bytes()
    path = tmp_path / file.file_name
    path.write_bytes(zipped(member_name(file), data))
    schema = file.spec.schema(file.market)
    for table in (parse_csv(data, file), parse_file(path, file), parse_file(path.read_bytes(), file)):
        assert table.schema == schema
        assert table.to_pylist() == expected
    batches = list(iter_batches(path, file))
    assert pa.Table.from_batches(batches, schema).to_pylist() == expected


def test_member_name_follows_the_zip_name() -> None:
    file = ArchiveFile(UM, DAILY, "klines", "BTCUSDT", Interval.M1, D(2019, 12, 31))
    assert member_name(file) == "BTCUSDT-1m-2019-12-31.csv"


# --- header, layout and value errors -------------------------------------------------------------------

KLINES_UM = ArchiveFile(UM, DAILY, "klines", "BTCUSDT", Interval.H1, D(2023, 10, 27))
CM_KLINE_ROW = b"1698364800000,34161.6,34182.5,33977.4,34024.2,409953,1698368399999,1202.97118037,15095,192220,564.12041453,0"


def test_a_different_header_is_rejected_quoting_both() -> None:
    data = (
        b"open_time,open,high,low,close,volume,close_time,quote_volume,trades,tb,tbq,ignore\n" + CM_KLINE_ROW
    )
    with pytest.raises(ParseError) as caught:
        parse_csv(data, KLINES_UM)
    message = str(caught.value)
    assert "trades,tb,tbq" in message and "count,taker_buy_volume" in message
    assert KLINES_UM.file_name in message


def test_a_header_differing_only_in_case_spacing_or_crlf_is_accepted() -> None:
    header = DATASETS["klines"].layout(UM).header
    assert header is not None
    data = (header.upper().replace(",", ", ") + "\r\n").encode() + CM_KLINE_ROW + b"\r\n"
    assert parse_csv(data, KLINES_UM).num_rows == 1


def test_a_spot_file_with_a_header_is_read_like_a_futures_one() -> None:
    file = ArchiveFile(SPOT, DAILY, "klines", "BTCUSDT", Interval.H1, D(2023, 10, 27))
    names = ",".join(DATASETS["klines"].layout(SPOT).names)
    data = (names + "\n").encode() + (FIXTURES / "spot-BTCUSDT-1h-2023-10-27.csv").read_bytes()
    assert parse_csv(data, file).column("count").to_pylist() == [41459]


def test_a_byte_order_mark_is_ignored() -> None:
    header = DATASETS["klines"].layout(UM).header
    assert header is not None
    assert parse_csv(b"\xef\xbb\xbf" + header.encode() + b"\n" + CM_KLINE_ROW, KLINES_UM).num_rows == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n",
    ],
)
def test_files_without_rows_give_an_empty_table_with_the_schema(data: bytes, tmp_path: Path) -> None:
    table = parse_csv(data, KLINES_UM)
    assert table.num_rows == 0 and table.schema == KLINES_UM.spec.schema(UM)
    path = tmp_path / "x.zip"
    path.write_bytes(zipped(member_name(KLINES_UM), data))
    assert parse_file(path, KLINES_UM).schema == KLINES_UM.spec.schema(UM)
    assert list(iter_batches(path, KLINES_UM)) == []


def test_a_wrong_column_count_names_the_file_and_the_line() -> None:
    good = CM_KLINE_ROW + b"\n"
    data = good * 5 + b"1698368400000,1,2,3\n" + good
    with pytest.raises(ParseError, match=r"BTCUSDT-1h-2023-10-27\.zip: line 6 has 4 fields, expected 12"):
        parse_csv(data, KLINES_UM)
    header = DATASETS["klines"].layout(UM).header
    assert header is not None
    with pytest.raises(ParseError, match="line 7 has 4 fields"):
        parse_csv(header.encode() + b"\n" + data, KLINES_UM)


def test_a_bad_value_names_the_file() -> None:
    with pytest.raises(ParseError, match=r"BTCUSDT-1h-2023-10-27\.zip: .*abc"):
        parse_csv(CM_KLINE_ROW.replace(b"15095", b"abc"), KLINES_UM)


def test_an_empty_time_is_rejected() -> None:
    with pytest.raises(ParseError, match="empty open_time"):
        parse_csv(CM_KLINE_ROW + b"\n" + CM_KLINE_ROW.replace(b"1698364800000", b"", 1), KLINES_UM)


def test_a_file_mixing_milliseconds_and_microseconds_is_rejected() -> None:
    micro = CM_KLINE_ROW.replace(b"1698364800000", b"1698364800000000")
    with pytest.raises(ParseError, match="mix milliseconds and microseconds"):
        parse_csv(CM_KLINE_ROW + b"\n" + micro, KLINES_UM)


def test_a_unit_change_between_batches_is_rejected() -> None:
    micro = CM_KLINE_ROW.replace(b"1698364800000", b"1698364800000000").replace(
        b"1698368399999", b"1698368399999999"
    )
    data = (CM_KLINE_ROW + b"\n") * 3 + (micro + b"\n") * 3
    # Blocks of 128 bytes hold one row each, so the change is seen across batches, not inside one.
    with pytest.raises(ParseError, match="epoch unit changes from ms to us"):
        list(iter_csv_batches(data, KLINES_UM, block_size=128))


def test_the_unit_comes_from_the_values_not_the_calendar() -> None:
    # A spot file dated 2024 that already holds µs values is read as µs (quirks.MICROSECOND_THRESHOLD).
    file = ArchiveFile(SPOT, DAILY, "klines", "BTCUSDT", Interval.S1, D(2024, 12, 31))
    data = (FIXTURES / "spot-1s-2025-01-01.csv").read_bytes()
    assert parse_csv(data, file).column("open_time")[0].as_py() == t(2025, 1, 1)


# --- UM metrics label change (issue #491) --------------------------------------------------------------


def _metrics_day(day: dt.date, *, end_labels: bool) -> bytes:
    header = DATASETS["metrics"].layout(UM).header
    assert header is not None
    start = dt.datetime(day.year, day.month, day.day) + (
        quirks.METRICS_PERIOD if end_labels else dt.timedelta()
    )
    rows = [
        f"{start + i * quirks.METRICS_PERIOD:%Y-%m-%d %H:%M:%S},BTCUSDT,{i}.5,{i * 10},1.1,1.2,1.3,1.4"
        for i in range(288)
    ]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize(
    ("market", "day", "end_labels"),
    [
        (UM, quirks.UM_METRICS_START_LABELS_FROM - dt.timedelta(days=1), True),
        (UM, quirks.UM_METRICS_START_LABELS_FROM, False),
        (CM, D(2023, 6, 25), False),
    ],
)
def test_metrics_are_labelled_with_the_start_of_their_period_in_every_era(
    market: Market, day: dt.date, end_labels: bool
) -> None:
    file = ArchiveFile(market, DAILY, "metrics", "BTCUSDT", None, day)
    assert (label_shift(file) is not None) == end_labels
    times = parse_csv(_metrics_day(day, end_labels=end_labels), file).column("create_time").to_pylist()
    assert times[0] == t(day.year, day.month, day.day)
    assert times[-1] == t(day.year, day.month, day.day, 23, 55)
    assert len(set(times)) == 288


def test_consecutive_um_metrics_files_across_the_label_change_share_no_timestamp() -> None:
    change = quirks.UM_METRICS_START_LABELS_FROM
    before = ArchiveFile(UM, DAILY, "metrics", "BTCUSDT", None, change - dt.timedelta(days=1))
    after = ArchiveFile(UM, DAILY, "metrics", "BTCUSDT", None, change)
    first = parse_csv(_metrics_day(before.period, end_labels=True), before).column("create_time").to_pylist()
    second = parse_csv(_metrics_day(after.period, end_labels=False), after).column("create_time").to_pylist()
    assert not set(first) & set(second)
    assert max(first) < min(second)


# --- zip safety -----------------------------------------------------------------------------------------


def _zip_with(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_several_members_are_unsafe() -> None:
    data = _zip_with([("a.csv", b"1\n"), ("b.csv", b"2\n")])
    with pytest.raises(UnsafeArchive, match="expected one member, found 2"):
        open_member(data, "a.csv")


@pytest.mark.parametrize("name", ["../x.csv", "/etc/x.csv", "dir/x.csv", "dir\\x.csv", "..", "C:x.csv"])
def test_member_names_with_a_path_are_unsafe(name: str) -> None:
    assert unsafe_member_reason(name) is not None
    with pytest.raises(UnsafeArchive):
        parse_file(_zip_with([(name, CM_KLINE_ROW)]), KLINES_UM)


def test_plain_member_names_are_safe() -> None:
    assert unsafe_member_reason("BTCUSDT-1m-2019-12-31.csv") is None


def test_a_member_inflating_above_the_limit_is_unsafe() -> None:
    data = zipped(member_name(KLINES_UM), (CM_KLINE_ROW + b"\n") * 1000)
    assert parse_file(data, KLINES_UM, max_inflated_bytes=200_000).num_rows == 1000
    with pytest.raises(UnsafeArchive, match="above the limit of 1000"):
        parse_file(data, KLINES_UM, max_inflated_bytes=1000)


def test_a_differently_named_member_is_read_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    data = zipped("BTCUSDT-1h-2023-10-27 (1).csv", CM_KLINE_ROW)
    with caplog.at_level(logging.WARNING):
        assert parse_file(data, KLINES_UM).num_rows == 1
    assert "BTCUSDT-1h-2023-10-27 (1).csv" in caplog.text


def test_not_a_zip_is_a_parse_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "LUNCBUSD-2h-2022-12.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    file = ArchiveFile(SPOT, MONTHLY, "klines", "LUNCBUSD", Interval.H2, D(2022, 12, 1))
    with pytest.raises(ParseError, match=r"LUNCBUSD-2h-2022-12\.zip"):
        parse_file(path, file)


def test_an_empty_zip_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_file(_zip_with([]), KLINES_UM)


@pytest.mark.parametrize("reader", [parse_file, lambda s, f: list(iter_batches(s, f))])
def test_corrupt_compressed_data_is_a_parse_error(reader: Callable[[bytes, ArchiveFile], object]) -> None:
    # Valid directory, damaged deflate stream or CRC (the spot monthly zips of issue #469 fail like this).
    rows = b"".join(CM_KLINE_ROW.replace(b"15095", str(i).encode()) + b"\n" for i in range(20_000))
    data = bytearray(zipped(member_name(KLINES_UM), rows))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    with pytest.raises(ParseError, match=r"BTCUSDT-1h-2023-10-27\.zip"):
        reader(bytes(data), KLINES_UM)


def test_stored_members_are_read_too() -> None:
    data = zipped(member_name(KLINES_UM), CM_KLINE_ROW, method=zipfile.ZIP_STORED)
    assert parse_file(data, KLINES_UM).num_rows == 1


# --- round trip: parse(render(table)) == table for every dataset and market ------------------------------

EPOCH_MS = st.integers(1_000_000_000_000, 4_000_000_000_000)  # 2001 ... 2096, in ms


def _kind_values(kind: ColumnKind, unit: str, *, nullable: bool) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if kind is ColumnKind.EPOCH_TIME:
        base = (
            EPOCH_MS.map(lambda ms: ms * 1000)
            if unit == "ms"
            else EPOCH_MS.flatmap(lambda ms: st.integers(ms * 1000, ms * 1000 + 999))
        )
    elif kind is ColumnKind.TEXT_TIME:
        base = st.integers(1_000_000_000, 4_000_000_000).map(lambda s: s * 1_000_000)
    elif kind is ColumnKind.TEXT_DATE:
        base = st.integers(11_000, 46_000).map(lambda d: d * 86_400_000_000)
    elif kind is ColumnKind.FLOAT:
        base = st.floats(allow_nan=False, allow_infinity=False)
    elif kind is ColumnKind.INT:
        base = st.integers(-(2**63), 2**63 - 1)
    elif kind is ColumnKind.BOOL:
        base = st.booleans()
    else:
        base = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=8)
    return st.none() | base if nullable else base


def _render_field(kind: ColumnKind, value: Any, market: Market, unit: str, quote_blank: bool) -> str:
    if value is None:
        return '""' if quote_blank else ""
    if kind is ColumnKind.EPOCH_TIME:
        return str(value // 1000 if unit == "ms" else value)
    if kind in (ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE):
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value)
        return f"{moment:%Y-%m-%d}" if kind is ColumnKind.TEXT_DATE else f"{moment:%Y-%m-%d %H:%M:%S}"
    if kind is ColumnKind.BOOL:
        text = "true" if value else "false"
        return text.capitalize() if market is Market.SPOT else text  # spot writes Python-style booleans
    if kind is ColumnKind.FLOAT:
        return repr(value)
    return str(value)


def render(
    rows: list[dict[str, Any]],
    layout: CsvLayout,
    market: Market,
    *,
    unit: str,
    header: bool,
    shift_us: int,
    time_column: str,
    quote_blank: bool,
) -> bytes:
    """Write lake rows as the archive would: file column order, dropped columns filled in."""
    lines = [layout.header or ",".join(layout.names)] if header else []
    for row in rows:
        fields = []
        for column in layout.columns:
            if column.kind is ColumnKind.DROPPED:
                fields.append("0" if column.name == "ignore" else "BTCBVOLUSDT")
                continue
            value = row[column.name]
            if column.name == time_column and value is not None:
                value += shift_us
            fields.append(_render_field(column.kind, value, market, unit, quote_blank))
        lines.append(",".join(fields))
    return ("\n".join(lines) + "\n").encode()


def _file_for(dataset: str, market: Market) -> ArchiveFile:
    spec = DATASETS[dataset]
    cadence = DAILY if DAILY in spec.cadences else MONTHLY
    interval = Interval.M1 if spec.has_interval else None
    return ArchiveFile(market, cadence, dataset, "BTCUSDT", interval, D(2024, 1, 1))


COMBOS = sorted(
    (name, market) for name, spec in DATASETS.items() for market in spec.markets if spec.in_archive
)


@pytest.mark.parametrize(("dataset", "market"), COMBOS, ids=[f"{d}-{m.value}" for d, m in COMBOS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_of_rendered_rows_gives_the_rows_back(
    dataset: str, market: Market, data: st.DataObject
) -> None:
    file = _file_for(dataset, market)
    spec = file.spec
    layout = spec.layout(market)
    unit = data.draw(st.sampled_from(["ms", "us"]), label="unit")
    first = layout.columns[0].name
    # The time column and the first field are never blank (a blank first field would look like a header).
    row_strategy = st.fixed_dictionaries(
        {
            c.name: _kind_values(c.kind, unit, nullable=c.name not in (spec.time_column, first))
            for c in layout.kept
        }
    )
    rows = data.draw(st.lists(row_strategy, max_size=12), label="rows")
    header = data.draw(st.booleans(), label="header")
    quote_blank = data.draw(st.booleans(), label="quote_blank")
    shift = label_shift(file)
    shift_us = int(shift / dt.timedelta(microseconds=1)) if shift else 0
    csv_bytes = render(
        rows,
        layout,
        market,
        unit=unit,
        header=header,
        shift_us=shift_us,
        time_column=spec.time_column,
        quote_blank=quote_blank,
    )
    schema = spec.schema(market)
    expected = pa.Table.from_pylist(
        [
            {
                k: (
                    v
                    if schema.field(k).type != pa.timestamp("us", tz="UTC") or v is None
                    else dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=v)
                )
                for k, v in r.items()
            }
            for r in rows
        ],
        schema=schema,
    )
    parsed = parse_csv(csv_bytes, file)
    assert parsed.schema == schema
    assert parsed.to_pylist() == expected.to_pylist()
    block = data.draw(st.sampled_from([4096, 1 << 20]), label="block_size")
    streamed = pa.Table.from_batches(list(iter_csv_batches(csv_bytes, file, block_size=block)), schema)
    assert streamed.equals(parsed)


def test_empty_fields_are_null_in_every_column_and_only_they_are() -> None:
    file = ArchiveFile(OPT, DAILY, "EOHSummary", "BTCUSDT", None, D(2024, 1, 1))
    header = DATASETS["EOHSummary"].layout(OPT).header
    assert header is not None
    fields = ["2024-01-01", "3", "BTC-240105-40000-C", "", "C", "40000", "NaN"] + [""] * 19
    table = parse_csv(f"{header}\n{','.join(fields)}\n".encode(), file)
    row = table.to_pylist()[0]
    assert row["date"] == t(2024, 1, 1) and row["hour"] == 3 and row["symbol"] == "BTC-240105-40000-C"
    assert row["underlying"] is None and row["type"] == "C" and row["strike"] == 40000.0
    assert row["open"] != row["open"], "the text NaN stays a float NaN"
    assert all(row[name] is None for name in table.column_names[7:])


@pytest.mark.parametrize("limit", [0, 10, 1024, 64 * 1024**2])
def test_a_csv_parses_the_same_from_memory_or_streamed(
    limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`parse_file` parses a CSV up to `IN_MEMORY_BYTES` from memory and a larger one as a stream: the same
    table either way, with or without a header, and the same errors."""
    header = DATASETS["klines"].layout(UM).header
    assert header is not None
    rows = b"".join(CM_KLINE_ROW.replace(b"1698364800000", str(1698364800000 + i * 3_600_000).encode()) + b"\n"
                    for i in range(20))  # fmt: skip
    path = tmp_path / KLINES_UM.file_name
    expected = parse_csv(rows, KLINES_UM)
    monkeypatch.setattr(csv_parse, "IN_MEMORY_BYTES", limit)
    for data in (rows, header.encode() + b"\n" + rows):
        path.write_bytes(zipped(member_name(KLINES_UM), data))
        assert parse_file(path, KLINES_UM).equals(expected)
    path.write_bytes(zipped(member_name(KLINES_UM), rows + b"1698368400000,1,2,3\n"))
    with pytest.raises(ParseError, match="line 21 has 4 fields"):
        parse_file(path, KLINES_UM)


# --- many small files parsed together (parse_files) -------------------------------------------------------


def _kline_file(day: int) -> ArchiveFile:
    return ArchiveFile(UM, DAILY, "klines", "BTCUSDT", Interval.H1, D(2023, 10, day))


def _kline_rows(day: int, count: int, *, micro: bool) -> list[bytes]:
    start = int(dt.datetime(2023, 10, day, tzinfo=UTC).timestamp() * 1000)
    scale = 1000 if micro else 1
    return [
        CM_KLINE_ROW.replace(b"1698364800000", str((start + h * 3_600_000) * scale).encode()).replace(
            b"1698368399999", str((start + (h + 1) * 3_600_000 - 1) * scale).encode()
        )
        for h in range(count)
    ]


# How one file of a batch is written: the header, BOM, CRLF and end-of-file variants the archive has had,
# and the damage a batch must not hide (a bad row, a file mixing units, an empty time).
VARIANTS = ["plain", "header", "bom-header", "crlf", "no-final-newline", "blank-line-at-end",
            "blank-line-inside", "bare-cr", "empty", "header-only", "bad-row", "mixed-units", "empty-time"]  # fmt: skip


def _render_variant(day: int, count: int, micro: bool, variant: str) -> bytes:
    header = DATASETS["klines"].layout(UM).header
    assert header is not None
    rows = _kline_rows(day, count, micro=micro)
    if variant == "empty":
        return b""
    if variant == "header-only":
        return header.encode() + b"\n"
    if variant == "bad-row" and rows:
        rows[len(rows) // 2] = b"1698368400000,1,2,3"
    if variant == "mixed-units" and rows:
        rows[-1] = _kline_rows(day, count, micro=not micro)[-1]
    if variant == "empty-time" and len(rows) > 1:
        rows[-1] = b"," + rows[-1].split(b",", 1)[1]
    if variant == "blank-line-inside" and rows:
        rows.insert(len(rows) // 2, b"")
    newline = b"\r\n" if variant == "crlf" else b"\r" if variant == "bare-cr" else b"\n"
    body = newline.join(rows) + (b"" if variant == "no-final-newline" else newline)
    if variant == "blank-line-at-end":
        body += b"\n"
    if variant in ("header", "bom-header"):
        body = header.encode() + b"\n" + body
    if variant == "bom-header":
        body = b"\xef\xbb\xbf" + body
    return body


def _outcome(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except ParseError as error:
        return error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(
        st.tuples(st.integers(0, 6), st.booleans(), st.sampled_from(VARIANTS)), min_size=1, max_size=8
    )
)
def test_many_small_files_parse_together_as_each_alone(files: list[tuple[int, bool, str]]) -> None:
    """`parse_files` gives every file the table `parse_file` gives it alone — whatever mix of headers, units,
    line ends and empty files the batch holds — and when a file cannot be read, the error `parse_file` raises
    for one of the batch's bad files, naming it."""
    sources = [
        (zipped(member_name(_kline_file(i + 1)), _render_variant(i + 1, count, micro, variant)), _kline_file(i + 1))
        for i, (count, micro, variant) in enumerate(files)
    ]  # fmt: skip
    alone = [_outcome(lambda s=s, f=f: parse_file(s, f)) for s, f in sources]
    together = _outcome(lambda: csv_parse.parse_files(sources))
    errors = [str(a) for a in alone if isinstance(a, ParseError)]
    if errors:
        assert isinstance(together, ParseError) and str(together) in errors
    else:
        assert not isinstance(together, ParseError)
        assert len(together) == len(alone)
        for joint, single in zip(together, alone, strict=True):
            assert joint.schema == single.schema and joint.equals(single)


def test_small_files_of_one_layout_are_parsed_in_one_pyarrow_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of `parse_files`: one reader set-up for a batch, not one per file; each file's own unit
    (ms before spot's 2025 switch, µs after) still decided from its own values."""
    calls: list[object] = []
    read_csv = csv_parse.pa_csv.read_csv

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return read_csv(*args, **kwargs)

    monkeypatch.setattr(csv_parse.pa_csv, "read_csv", counting)
    sources = [
        (zipped(member_name(_kline_file(day)), b"\n".join(_kline_rows(day, 3, micro=day > 3)) + b"\n"), _kline_file(day))
        for day in range(1, 7)
    ]  # fmt: skip
    tables = csv_parse.parse_files(sources)
    assert len(calls) == 1
    assert [table.num_rows for table in tables] == [3] * 6
    for day, table in enumerate(tables, start=1):
        assert table.column("open_time")[0].as_py() == t(2023, 10, day)


def test_metrics_of_both_label_eras_parse_together_as_each_alone() -> None:
    change = quirks.UM_METRICS_START_LABELS_FROM
    days = [
        change - dt.timedelta(days=2),
        change - dt.timedelta(days=1),
        change,
        change + dt.timedelta(days=1),
    ]
    files = [ArchiveFile(UM, DAILY, "metrics", "BTCUSDT", None, day) for day in days]
    sources = [
        (zipped(member_name(f), _metrics_day(f.period, end_labels=label_shift(f) is not None)), f)
        for f in files
    ]
    together = csv_parse.parse_files(sources)
    for (source, file), table in zip(sources, together, strict=True):
        assert table.equals(parse_file(source, file))
        assert table.column("create_time")[0].as_py() == t(
            file.period.year, file.period.month, file.period.day
        )


def test_a_large_file_in_a_batch_is_parsed_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_parse, "BATCH_FILE_BYTES", 500)
    sources = [
        (zipped(member_name(_kline_file(day)), b"\n".join(_kline_rows(day, n, micro=False)) + b"\n"), _kline_file(day))
        for day, n in ((1, 2), (2, 24), (3, 1))
    ]  # fmt: skip
    assert [t.num_rows for t in csv_parse.parse_files(sources)] == [2, 24, 1]


def test_line_counts_that_add_up_by_chance_still_split_each_file_right() -> None:
    """Rows ended by a bare CR (fewer newlines than rows) beside blank lines (more) can add up to the batch's
    row count; each file must still get its own rows."""
    cr_rows = b"\r".join(_kline_rows(1, 3, micro=False)) + b"\n"  # 3 rows, 1 newline
    blank = _kline_rows(2, 2, micro=False)
    blank_rows = blank[0] + b"\n\n\n" + blank[1] + b"\n"  # 2 rows, 4 newlines
    sources = [
        (zipped(member_name(_kline_file(d)), data), _kline_file(d))
        for d, data in ((1, cr_rows), (2, blank_rows))
    ]
    together = csv_parse.parse_files(sources)
    assert [table.num_rows for table in together] == [3, 2]
    for (source, file), table in zip(sources, together, strict=True):
        assert table.equals(parse_file(source, file))
