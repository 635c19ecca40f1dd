"""Every quirk the manifest reports is observable in the served bytes; the clock publishes files."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable

import pyarrow as pa
import pyarrow.csv as pacsv

from binance_lake.core import quirks
from binance_lake.core.archive import ArchiveFile, ParsedKey, parse_key
from binance_lake.core.datasets import get_dataset
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.sim.manifest import Manifest
from binance_lake.sim.server import SimServer
from tests.sim.simhttp import fetch, list_all

Factory = Callable[..., SimServer]


def _csv(server: SimServer, key: str) -> bytes:
    reply = fetch(f"{server.base_url}/{key}")
    assert reply.status == 200, key
    with zipfile.ZipFile(io.BytesIO(reply.body)) as archive:
        return archive.read(archive.namelist()[0])


def _rows(server: SimServer, key: str) -> pa.Table:
    parsed = parse_key(key)
    assert isinstance(parsed, ParsedKey)
    layout = parsed.file.spec.layout(parsed.file.market)
    data = _csv(server, key)
    skip = 1 if data[:1].isalpha() else 0
    options = pacsv.ReadOptions(column_names=list(layout.names), skip_rows=skip)
    return pacsv.read_csv(io.BytesIO(data), read_options=options)


def _manifest(server: SimServer) -> Manifest:
    return Manifest(server.universe)


def test_manifest_places_every_quirk(sim_server: SimServer) -> None:
    placed = _manifest(sim_server).quirks
    assert all(placed[name] for name in placed), {k: v for k, v in placed.items() if not v}


def test_missing_daily_files_are_404_but_the_month_has_the_day(sim_server: SimServer) -> None:
    for key in _manifest(sim_server).quirks["missing_daily_files"]:
        assert fetch(f"{sim_server.base_url}/{key}").status == 404
    key = "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip"
    opens = _rows(sim_server, key).column("open_time").to_pylist()
    day = int(dt.datetime(2024, 2, 16, tzinfo=UTC).timestamp() * 1000)
    assert sum(day <= t < day + 86_400_000 for t in opens) == 24


def test_duplicated_and_unordered_aggtrades(sim_server: SimServer) -> None:
    placed = _manifest(sim_server).quirks
    duplicated = _rows(sim_server, placed["duplicated_rows"][0]).column("agg_trade_id").to_pylist()
    assert len(duplicated) > len(set(duplicated))
    unordered = _rows(sim_server, placed["unordered_rows"][0]).column("agg_trade_id").to_pylist()
    assert unordered != sorted(unordered) and len(unordered) == len(set(unordered))


def test_truncated_file_checksum_still_matches(sim_server: SimServer) -> None:
    key = _manifest(sim_server).quirks["truncated_checksum_ok"][0]
    body = fetch(f"{sim_server.base_url}/{key}").body
    checksum = fetch(f"{sim_server.base_url}/{key}.CHECKSUM").body
    assert checksum.split()[0].decode() == hashlib.sha256(body).hexdigest()
    trades = _rows(sim_server, key)
    assert trades.num_rows < 31 * 2000 * 0.2  # a tenth of a month of ~4000 trades/day


def test_wrong_checksum_never_matches(sim_server: SimServer) -> None:
    key = _manifest(sim_server).quirks["checksum_mismatch"][0]
    body = fetch(f"{sim_server.base_url}/{key}").body
    checksum = fetch(f"{sim_server.base_url}/{key}.CHECKSUM").body
    assert checksum.split()[0].decode() != hashlib.sha256(body).hexdigest()


def test_unpadded_month_key_has_no_checksum(sim_server: SimServer) -> None:
    key = _manifest(sim_server).quirks["unpadded_month_no_checksum"][0]
    assert key.endswith("ADABKRW-1d-2020-8.zip")
    assert fetch(f"{sim_server.base_url}/{key}").status == 200
    assert fetch(f"{sim_server.base_url}/{key}.CHECKSUM").status == 404
    assert fetch(f"{sim_server.base_url}/{key.replace('2020-8', '2020-08')}").status == 404
    keys, _, _ = list_all(
        sim_server.settings_env()["BINANCE_LAKE_LISTING_URL"], prefix=key.rsplit("/", 1)[0] + "/"
    )
    assert key in keys and key + ".CHECKSUM" not in keys


def test_header_presence_follows_cutovers_and_exceptions(sim_server: SimServer) -> None:
    placed = _manifest(sim_server).quirks
    base = "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-"
    assert not _csv(sim_server, base + "2022-04-30.zip")[:1].isalpha()
    assert _csv(sim_server, base + "2022-05-01.zip").startswith(b"open_time,open,")
    for key in placed["header_forced"]:
        assert _csv(sim_server, key).startswith(b"open_time,")
    for key in placed["header_dropped"]:
        assert _csv(sim_server, key)[:1].isdigit()
    assert _csv(sim_server, "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip")[:1].isdigit()
    cm = "data/futures/cm/daily/klines/BTCUSD_PERP/1h/BTCUSD_PERP-1h-"
    assert _csv(sim_server, cm + "2023-09-30.zip")[:1].isdigit()
    assert _csv(sim_server, cm + "2023-10-01.zip").startswith(b"open_time")
    trades = "data/futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-"
    assert _csv(sim_server, trades + "2022-08-10.zip")[:1].isdigit()
    assert _csv(sim_server, trades + "2022-08-11.zip").startswith(
        b"id,price,qty,quote_qty,time,is_buyer_maker\n"
    )


def test_spot_microseconds_and_booleans(sim_server: SimServer) -> None:
    before = _csv(sim_server, "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-12-31.zip").split(
        b"\n"
    )[0]
    after = _csv(sim_server, "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip").split(
        b"\n"
    )[0]
    assert len(before.split(b",")[5]) == 13 and len(after.split(b",")[5]) == 16
    assert before.split(b",")[6] in (b"True", b"False")
    kline = _csv(sim_server, "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-01.zip").split(b"\n")[0]
    assert kline.split(b",")[6].endswith(b"999999")
    futures = _csv(sim_server, "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip")
    assert futures.split(b"\n")[1].split(b",")[6] in (b"true", b"false")


def test_text_times_blanks_and_doubled_liquidations(sim_server: SimServer) -> None:
    cm_metrics = _csv(
        sim_server, "data/futures/cm/daily/metrics/BTCUSD_PERP/BTCUSD_PERP-metrics-2024-01-01.zip"
    )
    first = cm_metrics.split(b"\n")[1]
    assert first.startswith(b"2024-01-01 00:00:00,BTCUSD_PERP,") and b',"","","",' in first
    depth = _csv(sim_server, "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-01-01.zip")
    assert depth.split(b"\n")[1].startswith(b"2024-01-01 00:00:0")
    liq = _csv(
        sim_server,
        "data/futures/cm/daily/liquidationSnapshot/BTCUSD_PERP/BTCUSD_PERP-liquidationSnapshot-2024-01-01.zip",
    )
    rows = liq.strip().split(b"\n")[1:]
    assert rows[0::2] == rows[1::2]


def test_um_metrics_label_change(sim_server: SimServer) -> None:
    old = (
        _csv(sim_server, "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2026-06-24.zip")
        .strip()
        .split(b"\n")
    )
    new = (
        _csv(sim_server, "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2026-06-25.zip")
        .strip()
        .split(b"\n")
    )
    assert old[1].startswith(b"2026-06-24 00:05:00") and old[-1].startswith(b"2026-06-25 00:00:00")
    assert new[1].startswith(b"2026-06-25 00:00:00") and new[-1].startswith(b"2026-06-25 23:55:00")
    assert dt.date(2026, 6, 25) == quirks.UM_METRICS_START_LABELS_FROM


def test_old_spot_checksum_has_no_newline(sim_server: SimServer) -> None:
    old = fetch(
        f"{sim_server.base_url}/data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2017-08.zip.CHECKSUM"
    ).body
    assert len(old) == 64 + 2 + len("BTCUSDT-1d-2017-08.zip") and not old.endswith(b"\n")


def test_maintenance_window_missing_for_every_symbol(sim_server: SimServer) -> None:
    begin, end = _manifest(sim_server).maintenance_windows[1]
    for key in (
        "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2023-03-24.zip",
        "data/futures/um/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2023-03-24.zip",
        "data/spot/daily/klines/SOLUSDT/1m/SOLUSDT-1m-2023-03-24.zip",
        "data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2023-03-24.zip",
    ):
        opens = _rows(sim_server, key).column("open_time").to_pylist()
        inside = [t for t in opens if begin.timestamp() * 1000 <= t < end.timestamp() * 1000]
        assert not inside and len(opens) == 1440 - (end - begin).total_seconds() // 60


def test_non_dataset_keys_are_served(sim_server: SimServer) -> None:
    for key in _manifest(sim_server).non_dataset_keys:
        reply = fetch(f"{sim_server.base_url}/{key}")
        assert reply.status == 200, key
        assert not isinstance(parse_key(key), ParsedKey)


def test_clock_publishes_daily_and_monthly_files(make_sim: Factory) -> None:
    server = make_sim(now=dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC))
    daily = "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02-29.zip"
    monthly = "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip"
    assert fetch(f"{server.base_url}/{daily}").status == 404
    server.universe.clock.set(dt.datetime(2024, 3, 1, 9, 1, tzinfo=UTC))
    assert fetch(f"{server.base_url}/{daily}").status == 200
    assert fetch(f"{server.base_url}/{monthly}").status == 404
    server.universe.clock.set(
        dt.datetime(2024, 3, 4, 7, 1, tzinfo=UTC)
    )  # first Monday of March, after 06:00+1h
    assert fetch(f"{server.base_url}/{monthly}").status == 200
    keys, _, _ = list_all(server.settings_env()["BINANCE_LAKE_LISTING_URL"], prefix=monthly)
    assert keys == [monthly, monthly + ".CHECKSUM"]


def test_reupload_switches_bytes_etag_and_last_modified(make_sim: Factory) -> None:
    server = make_sim()
    reuploads = Manifest(server.universe).reuploads
    key, moment = max(reuploads.items(), key=lambda item: item[1])
    server.universe.clock.set(moment - dt.timedelta(minutes=1))
    before = fetch(f"{server.base_url}/{key}")
    server.universe.clock.set(moment + dt.timedelta(minutes=1))
    after = fetch(f"{server.base_url}/{key}")
    assert before.status == after.status == 200 and before.body != after.body
    assert before.headers["ETag"] != after.headers["ETag"]
    assert before.headers["Last-Modified"] != after.headers["Last-Modified"]
    assert "2026 09:30:00 GMT" in after.headers["Last-Modified"]
    new_checksum = fetch(f"{server.base_url}/{key}.CHECKSUM").body
    assert new_checksum.split()[0].decode() == hashlib.sha256(after.body).hexdigest()


def test_late_upload_appears_days_later(make_sim: Factory) -> None:
    server = make_sim()
    late = "data/futures/um/daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-17.zip"
    next_day = "data/futures/um/daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-18.zip"
    assert fetch(f"{server.base_url}/{late}").status == 404
    assert fetch(f"{server.base_url}/{next_day}").status == 200
    server.universe.clock.advance(dt.timedelta(days=1, hours=1))
    assert fetch(f"{server.base_url}/{late}").status == 200


def test_delisted_relisted_pair_has_a_gap(sim_server: SimServer) -> None:
    keys = list(_manifest(sim_server).keys("data/spot/monthly/klines/BTCUSDC/1d/"))
    months = {k.rsplit("-", 2)[-2] + "-" + k.rsplit("-", 1)[-1][:2] for k in keys if k.endswith(".zip")}
    assert "2022-08" in months and "2023-03" in months
    assert not any(m in months for m in ("2022-09", "2022-12", "2023-02"))


def test_um_bookticker_and_cm_liquidations_stop(sim_server: SimServer) -> None:
    spec = get_dataset("bookTicker")
    last = spec.last_day[Market.UM]
    after = ArchiveFile(Market.UM, Cadence.DAILY, "bookTicker", "BTCUSDT", None, last + dt.timedelta(days=1))
    assert fetch(f"{sim_server.base_url}/{after.key}").status == 404
    on_last = ArchiveFile(Market.UM, Cadence.DAILY, "bookTicker", "BTCUSDT", None, last)
    assert fetch(f"{sim_server.base_url}/{on_last.key}").status == 200
    liq = ArchiveFile(
        Market.CM,
        Cadence.DAILY,
        "liquidationSnapshot",
        "BTCUSD_PERP",
        None,
        quirks.CM_LIQUIDATION_LAST_DAY + dt.timedelta(days=1),
    )
    assert fetch(f"{sim_server.base_url}/{liq.key}").status == 404
    keys, prefixes, _ = list_all(
        sim_server.settings_env()["BINANCE_LAKE_LISTING_URL"],
        prefix="data/futures/um/daily/liquidationSnapshot/",
    )
    assert not keys and not prefixes
    one_week = ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.W1, dt.date(2024, 1, 1))
    assert fetch(f"{sim_server.base_url}/{one_week.key}").status == 200
