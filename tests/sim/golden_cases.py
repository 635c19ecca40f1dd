"""Requests whose answers are pinned byte for byte in `golden_answers.json` (listings, HEADs, GETs).

The answers were captured from the simulator before its listing and HEAD paths were optimised, so the
test that replays them proves the fast paths answer exactly as the straightforward ones did: same keys,
order, sizes, ETags, Last-Modified, XML bytes and headers. Cases cover the small, medium and large
universes, several clocks (late uploads, re-uploads), delimiters, markers, v2 tokens, URL encoding,
prefixes that end mid-name, and multi-page walks.

Regenerate (only when a behaviour change is intended) with:

    .venv/bin/python -m tests.sim.golden_cases
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from binance_lake.core.timerange import UTC
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import DEFAULT_NOW, Universe
from tests.sim.simhttp import S3, Reply, fetch

ANSWERS = Path(__file__).with_name("golden_answers.json")
LISTING = "/data.binance.vision"


@dataclass(frozen=True)
class Case:
    method: str  # GET or HEAD; a "LIST" is a GET of the listing that follows `pages` pages
    target: str  # a key for HEAD/GET, a query (dict as tuples) for LIST
    now: dt.datetime = DEFAULT_NOW
    pages: int = 1
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        extra = urlencode(self.query) + ("" if not self.headers else f" {dict(self.headers)}")
        return f"{self.method} {self.target} {extra} @{self.now.isoformat()} x{self.pages}"


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _list(pages: int = 1, now: dt.datetime = DEFAULT_NOW, **query: str | int) -> Case:
    items = tuple((k.replace("_", "-"), str(v)) for k, v in query.items())
    return Case("LIST", "", now, pages, items)


def _head(key: str, now: dt.datetime = DEFAULT_NOW) -> Case:
    return Case("HEAD", key, now)


def _get(key: str, now: dt.datetime = DEFAULT_NOW, range_: str | None = None) -> Case:
    return Case("GET", key, now, headers=(("Range", range_),) if range_ else ())


UM = "data/futures/um/"
K1H = UM + "daily/klines/BTCUSDT/1h/"
BEFORE_REUPLOAD = _at("2025-01-15T09:00:00")
AFTER_REUPLOAD = _at("2025-01-15T11:00:00")
AFTER_LATE = _at("2026-11-22T12:00:00")

SMALL: tuple[Case, ...] = (
    _list(delimiter="/"),
    _list(prefix="data/", delimiter="/"),
    _list(prefix="data/futures/", delimiter="/"),
    _list(prefix=UM, delimiter="/"),
    _list(prefix=UM + "daily/", delimiter="/"),
    _list(prefix=UM + "daily/klines/", delimiter="/"),
    _list(prefix=UM + "daily/klines/BTC", delimiter="/"),
    _list(prefix=UM + "daily/klines/BTCUSDT/", delimiter="/"),
    _list(prefix=UM + "daily/klines/BTCUSDT/", delimiter="/", encoding_type="url"),
    _list(prefix=UM + "daily/klines/BTCUSDT/", max_keys=12),
    _list(prefix=UM + "daily/klines/BTCUSDT//"),
    _list(2, prefix=K1H, max_keys=15, marker=K1H + "BTCUSDT-1h-2024-02-12.zip"),
    _list(prefix=K1H + "BTCUSDT-1h-2024-06-", max_keys=25, now=BEFORE_REUPLOAD),
    _list(prefix=K1H + "BTCUSDT-1h-2024-06-", max_keys=25, now=AFTER_REUPLOAD),
    _list(prefix=K1H + "BTCUSDT-1h-2024-06-1", max_keys=8),
    _list(prefix=UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-1"),
    _list(prefix=UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-1", now=AFTER_LATE),
    _list(prefix=UM + "daily/klines/BNBUSDT/1d/BNBUSDT-1d-2026-11-1", delimiter="/", now=AFTER_LATE),
    _list(prefix=UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-1"),
    _list(prefix=UM + "daily/metrics/ETHUSDT/ETHUSDT-metrics-2026-07-0", max_keys=30),
    _list(prefix=UM + "daily/metrics/ETHUSDT/ETHUSDT-metrics-2024-03-0", max_keys=30),
    _list(prefix=UM + "daily/klines/BTCUSDT/1d/", marker=UM + "daily/klines/BTCUSDT/1d/BTCUSDT-1d-2026-11-1"),
    _list(2, prefix=UM + "monthly/fundingRate/", max_keys=40),
    _list(3, prefix=UM + "monthly/klines/BTCUSDT/1d/", list_type=2, max_keys=6, start_after=UM + "m"),
    _list(2, prefix=UM + "monthly/klines/", list_type=2, delimiter="/", max_keys=4),
    _list(prefix="data/spot/monthly/klines/ADABKRW/1d/"),
    _list(prefix="data/spot/monthly/klines/BTCUSDT/1d/", max_keys=10),
    _list(prefix="data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-03-0", max_keys=30),
    _list(prefix="data/spot/daily/klines/", delimiter="/"),
    _list(prefix="data/spot/daily/klines/BTCUSDC/1h/BTCUSDC-1h-2022-08-3", max_keys=30),
    _list(prefix="data/spot/daily/klines/BTCUSDC/1h/BTCUSDC-1h-2023-03-0", max_keys=4),
    _list(prefix="data/futures/cm/daily/", delimiter="/"),
    _list(prefix="data/futures/cm/daily/indexPriceKlines/", delimiter="/"),
    _list(prefix="data/futures/cm/daily/indexPriceKlines/BTCUSD/1d/", max_keys=6),
    _list(
        prefix="data/futures/cm/monthly/klines/",
        delimiter="/",
        max_keys=3,
        marker="data/futures/cm/monthly/klines/BTCUSD_250328/",
    ),
    _list(prefix=UM + "monthly/klines/CVCUSDTSETTLED/", delimiter="/"),
    _list(prefix=UM + "daily/klines/CVCUSDTSETTLED/1d/"),
    _list(
        prefix=UM + "daily/klines/BTCUSDT_230929/1d/",
        max_keys=5,
        marker=UM + "daily/klines/BTCUSDT_230929/1d/BTCUSDT_230929-1d-2023-09-2",
    ),
    _list(prefix="data/option/", delimiter="/"),
    _list(prefix="data/option/daily/BVOLIndex/", delimiter="/"),
    _list(prefix="data/option/daily/EOHSummary/ETHUSDT/", max_keys=4),
    _list(prefix="updates/"),
    _list(prefix="nothing/"),
    _list(prefix=UM + "daily/nothing/", delimiter="/"),
    _list(prefix=K1H, max_keys=0),
    _list(max_keys=7, marker="data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-03-05.zip.CHECKSUM"),
    _list(max_keys="abc"),
    _head(K1H + "BTCUSDT-1h-2024-01-01.zip"),
    _head(K1H + "BTCUSDT-1h-2024-01-01.zip.CHECKSUM"),
    _head(K1H + "BTCUSDT-1h-2024-06-10.zip", BEFORE_REUPLOAD),
    _head(K1H + "BTCUSDT-1h-2024-06-10.zip", AFTER_REUPLOAD),
    _head(K1H + "BTCUSDT-1h-2024-06-10.zip.CHECKSUM", AFTER_REUPLOAD),
    _head(K1H + "BTCUSDT-1h-2024-02-16.zip"),
    _head(UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-17.zip"),
    _head(UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-17.zip", AFTER_LATE),
    _head(UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-19.zip"),
    _head(UM + "daily/klines/SOLUSDT/1h/SOLUSDT-1h-2026-11-20.zip"),
    _head(UM + "daily/metrics/ETHUSDT/ETHUSDT-metrics-2026-07-09.zip.CHECKSUM"),
    _head("data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip"),
    _head("data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip.CHECKSUM"),
    _head("data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-08.zip"),
    _head("data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2017-09.zip.CHECKSUM"),
    _head("data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-03-05.zip.tmp"),
    _head(UM + "daily/klines/BTCUSDT//"),
    _head("index.html"),
    _head("data/futures/um/daily/klines/NOPEUSDT/1h/NOPEUSDT-1h-2024-01-01.zip"),
    _head("data/futures/um/daily/Klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"),
    _head("data/futures/um/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-01.zip"),
    _head("data/futures/um/daily/klines/BTCUSDT/1w/BTCUSDT-1w-2024-01-02.zip"),
    _head("data/futures/um/daily/klines/BTCUSDT/1w/BTCUSDT-1w-2024-01-01.zip"),
    _head("data/futures/um/daily/klines/XEMUSDT/1d/XEMUSDT-1d-2023-10-20.zip"),
    _head("data/futures/um/daily/klines/XEMUSDT/1d/XEMUSDT-1d-2023-10-19.zip"),
    _head("data/futures/cm/daily/indexPriceKlines/BTCUSD/1d/BTCUSD-1d-2024-01-01.zip"),
    _head("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-10.zip"),
    _head("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-11.zip"),
    _get(K1H + "BTCUSDT-1h-2024-01-01.zip.CHECKSUM"),
    _get(K1H + "BTCUSDT-1h-2024-06-10.zip", BEFORE_REUPLOAD),
    _get(K1H + "BTCUSDT-1h-2024-06-10.zip", AFTER_REUPLOAD, "bytes=100-199"),
    _get(K1H + "BTCUSDT-1h-2024-06-10.zip", AFTER_REUPLOAD, "bytes=-50"),
    _get(K1H + "BTCUSDT-1h-2024-06-10.zip", AFTER_REUPLOAD, "bytes=999999-"),
    _get(UM + "daily/metrics/ETHUSDT/ETHUSDT-metrics-2026-07-09.zip.CHECKSUM"),
    _get("data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2017-09.zip.CHECKSUM"),
    _get("favicon.ico"),
    _get(K1H + "BTCUSDT-1h-2024-02-16.zip"),
)

MEDIUM: tuple[Case, ...] = (
    _list(prefix=UM + "daily/klines/", delimiter="/", max_keys=100, marker=UM + "daily/klines/LU"),
    _list(prefix=UM + "monthly/fundingRate/", max_keys=30, marker=UM + "monthly/fundingRate/MI"),
    _list(prefix=UM + "daily/metrics/KOBABAUSDT/", max_keys=10),
    _head(UM + "daily/klines/BABABAUSDT/1h/BABABAUSDT-1h-2021-01-01.zip"),
)

LK = UM + "daily/klines/"
LARGE: tuple[Case, ...] = (
    _list(3, prefix=LK),
    _list(2, prefix=LK, delimiter="/"),
    _list(2, prefix=LK, delimiter="/", list_type=2),
    _list(prefix=LK, marker=LK + "LUVEXKOUSDT/1h/"),
    _list(2, prefix=LK, marker=LK + "LUVEXKOUSDT/1h/BA", list_type=2, start_after=LK + "LUVEXKOUSDT/1h/BA"),
    _list(prefix=LK + "ZEN", delimiter="/"),
    _list(prefix=LK + "GOGOLUUSDT/", delimiter="/"),
    _list(prefix=LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-1", max_keys=100),
    _list(prefix=LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-1", max_keys=100, now=_at("2026-11-24T09:00:00")),
    _list(prefix=LK + "GOGOLUUSDT/1d/", now=_at("2020-02-29T08:50:00")),
    _list(prefix=LK + "GOGOLUUSDT/1d/", now=_at("2020-02-29T09:10:00")),
    _list(prefix=LK + "GOGOLUUSDT/1d/", now=_at("2020-03-01T09:10:00")),
    _list(2, prefix=UM + "daily/metrics/", marker=UM + "daily/metrics/KOBALUUSDT/"),
    _list(2, prefix=UM + "monthly/klines/", max_keys=700),
    _list(prefix=UM + "monthly/fundingRate/", marker=UM + "monthly/fundingRate/XIXIQIUSDT/"),
    _list(prefix=UM, delimiter="/"),
    _list(prefix=UM + "daily/", delimiter="/"),
    _list(prefix=UM + "monthly/", delimiter="/", encoding_type="url"),
    _list(prefix=LK, marker=LK + "ZZ"),
    _head(LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-11-19.zip"),
    _head(LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-11-19.zip.CHECKSUM"),
    _head(LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-11-20.zip"),
    _head(LK + "BABABAUSDT/1h/BABABAUSDT-1h-2019-12-01.zip"),
    _head(LK + "BABABAUSDT/1h/BABABAUSDT-1h-2019-11-30.zip"),
    _head(LK + "BABABAUSDT/5m/BABABAUSDT-5m-2020-01-01.zip"),
    _head(UM + "daily/metrics/KOBALUUSDT/KOBALUUSDT-metrics-2024-02-29.zip"),
    _head(UM + "monthly/klines/KOBALUUSDT/1h/KOBALUUSDT-1h-2024-02.zip"),
    _head(UM + "monthly/klines/KOBALUUSDT/1h/KOBALUUSDT-1h-2024-02.zip.CHECKSUM"),
    _head(UM + "monthly/fundingRate/KOBALUUSDT/KOBALUUSDT-fundingRate-2026-10.zip"),
    _head(UM + "daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"),
    _get(LK + "GOGOLUUSDT/1d/GOGOLUUSDT-1d-2026-11-19.zip.CHECKSUM"),
)

UNIVERSES: dict[str, tuple[Case, ...]] = {"small": SMALL, "medium": MEDIUM, "large": LARGE}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record(reply: Reply) -> dict[str, object]:
    # Date changes every second; aiohttp names its own version in Server where we set none.
    headers = {k: v for k, v in sorted(reply.headers.items()) if k != "Date" and "aiohttp" not in v}
    return {"status": reply.status, "headers": headers, "body": _digest(reply.body)}


def _answer(server: SimServer, case: Case) -> list[dict[str, object]]:
    server.universe.clock.set(case.now)
    if case.method != "LIST":
        reply = fetch(f"{server.base_url}/{case.target}", method=case.method, headers=dict(case.headers))
        return [_record(reply)]
    answers: list[dict[str, object]] = []
    query = dict(case.query)
    for _ in range(case.pages):
        reply = fetch(f"{server.base_url}{LISTING}?{urlencode(query)}")
        answers.append(_record(reply))
        if reply.status != 200:
            break
        root = ET.fromstring(reply.body)
        if root.findtext(f"{S3}IsTruncated") != "true":
            break
        token = root.findtext(f"{S3}NextContinuationToken")
        if query.get("list-type") == "2":
            query["continuation-token"] = token or ""
        else:
            keys = [e.text or "" for e in root.iter(f"{S3}Key")]
            marker = root.findtext(f"{S3}NextMarker") or (keys[-1] if keys else None)
            if marker is None:
                break  # max-keys=0: truncated, but nothing to continue from
            query["marker"] = marker
    return answers


def capture(size: str, cases: tuple[Case, ...]) -> list[dict[str, object]]:
    """Every case's answers, in order, against one server (caches see the clock move back and forth)."""
    with SimServer(Universe.build(size)) as server:
        return [{"case": case.name, "answers": _answer(server, case)} for case in cases]


def main() -> None:
    answers = {size: capture(size, cases) for size, cases in UNIVERSES.items()}
    ANSWERS.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sum(len(v) for v in answers.values())} answers to {ANSWERS}")


if __name__ == "__main__":
    main()
