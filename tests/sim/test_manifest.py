"""The manifest agrees with what the server lists and serves."""

from __future__ import annotations

from binance_lake.core.vocabulary import Market
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer
from tests.sim.simhttp import S3, fetch, list_all, list_xml

PREFIX = "data/futures/cm/monthly/fundingRate/"


def test_objects_equal_the_listing(sim_server: SimServer) -> None:
    manifest = Manifest(sim_server.universe)
    listing = sim_server.settings_env()["BINANCE_LAKE_LISTING_URL"]
    keys, _, _ = list_all(listing, prefix=PREFIX)
    objects = list(manifest.objects(PREFIX))
    assert [o.key for o in objects] == keys == list(manifest.keys(PREFIX))
    root = list_xml(listing, prefix=PREFIX, max_keys=5)
    sizes = [int(e.text or 0) for e in root.iter(f"{S3}Size")]
    assert sizes == [o.size for o in objects[:5]]
    reply = fetch(f"{sim_server.base_url}/{objects[0].key}")
    assert reply.headers["ETag"] == f'"{objects[0].etag}"'


def test_symbols_and_summary(sim_server: SimServer) -> None:
    manifest = Manifest(sim_server.universe)
    um = {s.symbol: s for s in manifest.symbols(Market.UM)}
    assert um["BTCUSDT_230929"].delivery and um["CVCUSDTSETTLED"].settled and um["XEMUSDT"].delisted
    summary = manifest.summary()
    assert set(summary) >= {"now", "symbols", "quirks", "rules", "maintenance_windows", "non_dataset_keys"}
    assert "data/futures/um/daily/klines/BTCUSDT//" in manifest.non_dataset_keys
