"""CSV text, zips and checksums: the rendered bytes read back to the ground truth with a plain pyarrow CSV
reader and the registry's column names, and the real rows quoted in reference §2.2 read the same way."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.datasets import ColumnKind, CsvLayout, get_dataset
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.sim import content, render
from binance_lake.sim.universe import Universe

UNIVERSE = Universe.build("small")
CASES = [
    (Market.SPOT, "klines", "BTCUSDT", Interval.H1),
    (Market.SPOT, "aggTrades", "BTCUSDT", None),
    (Market.SPOT, "trades", "BTCUSDT", None),
    (Market.UM, "klines", "BTCUSDT", Interval.M5),
    (Market.UM, "premiumIndexKlines", "BTCUSDT", Interval.H1),
    (Market.UM, "indexPriceKlines", "ETHUSDT", Interval.H1),
    (Market.CM, "klines", "BTCUSD_PERP", Interval.M15),
    (Market.UM, "fundingRate", "BTCUSDT", None),
    (Market.UM, "metrics", "ETHUSDT", None),
    (Market.CM, "metrics", "BTCUSD_PERP", None),
    (Market.UM, "bookDepth", "BTCUSDT", None),
    (Market.UM, "bookTicker", "BTCUSDT", None),
    (Market.CM, "trades", "BTCUSD_PERP", None),
    (Market.CM, "liquidationSnapshot", "BTCUSD_PERP", None),
    (Market.OPTION, "BVOLIndex", "ETHBVOLUSDT", None),
    (Market.OPTION, "EOHSummary", "BTCUSDT", None),
]


def read_csv(data: bytes, market: Market, dataset: str, unit: str) -> pa.Table:
    """The simple reading every consumer does: header detection by the first byte, registry names."""
    layout = get_dataset(dataset).layout(market)
    skip = 0 if data[:1].isdigit() or data[:1] == b"-" else 1
    types = {
        c.name: pa.string() for c in layout.columns if c.kind in (ColumnKind.TEXT_TIME, ColumnKind.TEXT_DATE)
    }
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=list(layout.names), skip_rows=skip),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    return to_lake(table, layout, market, dataset, unit)


def to_lake(table: pa.Table, layout: CsvLayout, market: Market, dataset: str, unit: str) -> pa.Table:
    columns = []
    for column, field in zip(layout.kept, get_dataset(dataset).schema(market), strict=True):
        data = table.column(column.name)
        if column.kind is ColumnKind.EPOCH_TIME:
            data = pc.multiply(data.cast(pa.int64()), 1000 if unit == "ms" else 1).cast(field.type)
        elif column.kind is ColumnKind.TEXT_TIME:
            data = pc.strptime(data, format="%Y-%m-%d %H:%M:%S", unit="us").cast(field.type)
        elif column.kind is ColumnKind.TEXT_DATE:
            data = pc.strptime(data, format="%Y-%m-%d", unit="us").cast(field.type)
        columns.append(data.cast(field.type))
    return pa.Table.from_arrays(columns, schema=get_dataset(dataset).schema(market))


def render_day(
    market: Market, dataset: str, symbol: str, interval: Interval | None, day: dt.date, header: bool
) -> tuple[pa.Table, bytes, str]:
    table = UNIVERSE.day_table(market, dataset, symbol, interval, day)
    unit = get_dataset(dataset).epoch_unit(market, day)
    options = render.RenderOptions(
        header=header,
        epoch_unit=unit,
        spot_booleans=market is Market.SPOT,
        symbol=symbol,
        decimals=content.decimals(UNIVERSE, market, dataset, symbol),
    )
    return table, render.csv_bytes(table, get_dataset(dataset).layout(market), options), unit


@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(CASES),
    day=st.dates(min_value=dt.date(2023, 7, 1), max_value=dt.date(2023, 9, 29))
    | st.dates(min_value=dt.date(2024, 12, 25), max_value=dt.date(2025, 1, 5)),
    header=st.booleans(),
)
def test_parse_of_render_is_the_ground_truth(
    case: tuple[Market, str, str, Interval | None], day: dt.date, header: bool
) -> None:
    market, dataset, symbol, interval = case
    table, data, unit = render_day(market, dataset, symbol, interval, day, header)
    if table.num_rows == 0:
        assert data == (
            f"{get_dataset(dataset).layout(market).header}\n".encode()
            if header and market is not Market.SPOT
            else b""
        )
        return
    assert read_csv(data, market, dataset, unit).equals(table)


def test_header_lines_equal_the_registry() -> None:
    for market, dataset, symbol, interval in CASES:
        layout = get_dataset(dataset).layout(market)
        _, data, _ = render_day(market, dataset, symbol, interval, dt.date(2023, 7, 10), True)
        first = data.split(b"\n")[0].decode()
        if market is Market.SPOT:
            assert layout.header is None and first[0].isdigit()
        else:
            assert first == layout.header
        assert len(data.split(b"\n")[1].split(b",")) == len(layout.columns)


def test_reference_rows_read_like_simulated_rows() -> None:
    real = [
        (Market.SPOT, "klines", "ms", b"1698364800000,34151.66000000,34171.28000000,33972.39000000,34015.27000000,908.27901000,1698368399999,30937869.62302600,41459,416.48838000,14187002.70550060,0\n"),
        (Market.SPOT, "klines", "us", b"1735689600000000,0.31600000,0.31600000,0.31600000,0.31600000,27.00000000,1735689600999999,8.53200000,1,0.00000000,0.00000000,0\n"),
        (Market.SPOT, "aggTrades", "us", b"4055594388,79660.77000000,0.01300000,6656932686,6656932686,1788566400483577,False,True\n"),
        (Market.UM, "aggTrades", "ms", b"1715206948,29223.0,0.639,3643221425,3643221428,1682899200101,false\n"),
        (Market.CM, "klines", "ms", b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n1698364800000,34161.6,34182.5,33977.4,34024.2,409953,1698368399999,1202.97118037,15095,192220,564.12041453,0\n"),
        (Market.UM, "bookDepth", "ms", b"timestamp,percentage,depth,notional\n2025-05-19 11:07:31,-5,7885.27500000,647368074.36920000\n"),
        (Market.CM, "liquidationSnapshot", "ms", b"time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,last_fill_quantity,accumulated_fill_quantity\n1687656471926,BUY,LIMIT,IOC,7,30741.3,30631.6,FILLED,6,7\n"),
        (Market.CM, "metrics", "ms", b'create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n2023-06-25 00:00:00,BTCUSD_PERP,5578700.00000000,18265.00911826,"","","",0.00855776\n'),
        (Market.OPTION, "BVOLIndex", "ms", b"calc_time,symbol,base_asset,quote_asset,index_value\n1790812800001,BTCBVOLUSDT,BTCBVOL,USDT,37.2172\n"),
    ]  # fmt: skip
    for market, dataset, unit, data in real:
        table = read_csv(data, market, dataset, unit)
        assert table.num_rows == 1 and table.schema == get_dataset(dataset).schema(market)
    spot = read_csv(real[1][3], Market.SPOT, "klines", "us").to_pylist()[0]
    assert spot["close_time"].microsecond == 999999


def test_zip_and_checksum_bytes() -> None:
    data = b"1,2,3\n"
    first = render.zip_bytes("A-1h-2024-01-01.csv", data)
    assert first == render.zip_bytes("A-1h-2024-01-01.csv", data)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["A-1h-2024-01-01.csv"] and archive.read("A-1h-2024-01-01.csv") == data
    padded = render.zip_bytes("A-1h-2024-01-01.csv", data, comment_to=len(first) + 500)
    assert len(padded) == len(first) + 500
    with zipfile.ZipFile(io.BytesIO(padded)) as archive:
        assert archive.read("A-1h-2024-01-01.csv") == data
    line = render.checksum_text(first, "A-1h-2024-01-01.zip")
    assert line == f"{hashlib.sha256(first).hexdigest()}  A-1h-2024-01-01.zip\n".encode()
    assert render.checksum_text(first, "A.zip", newline=False).endswith(b"A.zip")
