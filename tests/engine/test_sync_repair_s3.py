"""`sync --repair` on an s3:// root (moto): an object replaced by other bytes (a new size or LastModified than its
record says, even with the recorded number of rows) and a missing object are re-fetched, exactly those; the
replaced object is set aside in the bucket's `damaged/`, never deleted; the other partitions are not touched."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from binance_lake.lake import Lake
from binance_lake.sim.server import SimServer
from tests.s3_server import S3Root

SERIES = "tables/klines/market=um/interval=1h/symbol={symbol}/2024-0{month}.parquet"
ZIP = "data/futures/um/monthly/klines/{symbol}/1h/{symbol}-1h-2024-0{month}.zip"
KWARGS = {
    "datasets": "klines",
    "intervals": "1h",
    "symbols": "BTCUSDT,ETHUSDT",
    "start": "2024-01-01",
    "end": "2024-02-29",
}


def load(lake: Lake) -> pa.Table:
    table: pa.Table = lake.load(
        "klines", "BTCUSDT,ETHUSDT", "2024-01-01", "2024-02-29", interval="1h", as_="arrow"
    )
    return table


def test_sync_repair_refetches_exactly_the_replaced_and_the_missing_objects(
    sim_server: SimServer, s3_root: S3Root
) -> None:
    lake = Lake(s3_root.url, settings=sim_server.settings())
    assert lake.sync(**KWARGS).ok  # type: ignore[arg-type]
    before = load(lake)
    fs, base = s3_root.server.filesystem(), f"{s3_root.server.bucket}/{s3_root.prefix}"
    replaced, missing = SERIES.format(symbol="ETHUSDT", month=2), SERIES.format(symbol="BTCUSDT", month=1)
    intact = [SERIES.format(symbol="ETHUSDT", month=1), SERIES.format(symbol="BTCUSDT", month=2)]
    seen = {key: fs.get_file_info(f"{base}/{key}").mtime_ns for key in intact}
    # Other bytes under a recorded key, with the recorded number of rows: only the record can tell.
    rows = pq.read_table(fs.open_input_file(f"{base}/{replaced}"))
    with fs.open_output_stream(f"{base}/{replaced}") as out:
        pq.write_table(rows.set_column(4, "close", pc.multiply(rows.column("close"), 2.0)), out)
    fs.delete_file(f"{base}/{missing}")

    repaired = lake.sync(**KWARGS, repair=True)  # type: ignore[arg-type]
    assert repaired.ok
    assert repaired.lost_partitions == {replaced: "damaged", missing: "gone"}
    assert sorted(p.key for p in repaired.plan.fetch) == [
        ZIP.format(symbol="BTCUSDT", month=1),
        ZIP.format(symbol="ETHUSDT", month=2),
    ]
    assert load(lake).equals(before)
    assert {key: fs.get_file_info(f"{base}/{key}").mtime_ns for key in intact} == seen  # not rewritten
    aside = fs.get_file_info(f"{base}/damaged/{replaced}")
    assert aside.type == pafs.FileType.File  # set aside in the bucket, not deleted
    assert pq.read_table(fs.open_input_file(f"{base}/damaged/{replaced}")).num_rows == rows.num_rows
    assert not list(s3_root.state_dir.rglob("*.parquet"))  # nothing of it landed in the state directory
    again = lake.sync(**KWARGS, repair=True)  # type: ignore[arg-type]
    assert again.ok and again.plan.is_empty and not again.lost_partitions
