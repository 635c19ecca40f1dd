"""Where the simulator places each Binance archive quirk: which files, which days, which rule.

Pure data and rules, each with its upstream issue (https://github.com/binance/binance-public-data/issues/NNN).
The manifest reports these placements so tests can look for every quirk in the served bytes.
"""

from __future__ import annotations

import datetime as dt

from binance_lake.core import quirks
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.timerange import UTC
from binance_lake.core.vocabulary import Cadence, Interval, Market

D, M = Cadence.DAILY, Cadence.MONTHLY
U, S, C = Market.UM, Market.SPOT, Market.CM


def _daily(market: Market, dataset: str, symbol: str, interval: Interval | None, day: str) -> ArchiveFile:
    return ArchiveFile(market, D, dataset, symbol, interval, dt.date.fromisoformat(day))


def _monthly(market: Market, dataset: str, symbol: str, interval: Interval | None, month: str) -> ArchiveFile:
    return ArchiveFile(market, M, dataset, symbol, interval, dt.date.fromisoformat(month + "-01"))


# Single-day files that were never published: 404, while the monthly file and REST have the data (#309).
MISSING_FILES: frozenset[ArchiveFile] = frozenset(
    {
        _daily(U, "klines", "BTCUSDT", Interval.H1, "2024-02-16"),
        _daily(U, "metrics", "ETHUSDT", None, "2024-03-05"),
        _daily(S, "klines", "ETHUSDT", Interval.D1, "2023-07-04"),
    }
)

# Daily files uploaded days late (issue #150): extra delay past the usual next-day 08:40 UTC.
LATE_FILES: dict[ArchiveFile, dt.timedelta] = {
    _daily(U, "klines", "SOLUSDT", Interval.H1, "2026-11-17"): dt.timedelta(days=3),
    _daily(U, "klines", "BNBUSDT", Interval.D1, "2026-11-18"): dt.timedelta(days=2),
}

# Files replaced in place with new bytes, new ETag and Last-Modified at a later time (#413): before that
# time the first upload (which stopped early, missing its last tenth of rows) is served.
REUPLOADS: dict[ArchiveFile, dt.datetime] = {
    _daily(U, "klines", "BTCUSDT", Interval.H1, "2024-06-10"): dt.datetime(2025, 1, 15, 10, 0, tzinfo=UTC),
    _daily(U, "klines", "BTCUSDT", Interval.H1, "2026-11-02"): dt.datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
}

# A .CHECKSUM that never matches its zip (#405, #498: metrics 2026-07-09).
WRONG_CHECKSUMS: frozenset[ArchiveFile] = frozenset({_daily(U, "metrics", "ETHUSDT", None, "2026-07-09")})

# A truncated zip whose checksum matches the truncated bytes (#39: XRPUSDT-trades-2021-05.zip).
TRUNCATED: frozenset[ArchiveFile] = frozenset({_monthly(U, "trades", "ETHUSDT", None, "2022-07")})
TRUNCATED_KEEP = 0.1

# Every row duplicated from part-way through the month (#203: UM BTCUSDT aggTrades 2022-09).
DUPLICATED: frozenset[ArchiveFile] = frozenset({_monthly(U, "aggTrades", "BTCUSDT", None, "2022-09")})

# Rows interleaved out of order (#339: UM monthly aggTrades 2023-05).
UNORDERED: frozenset[ArchiveFile] = frozenset({_monthly(U, "aggTrades", "BTCUSDT", None, "2023-05")})

# Header presence that breaks the cut-over rule: some old files regenerated with a header, some new ones
# without (#246, tracequant's probes in reference §2.3).
HEADER_FORCED: frozenset[ArchiveFile] = frozenset(
    {
        *(_daily(U, "klines", "ETHUSDT", Interval.H1, f"2021-03-0{d}") for d in (1, 2, 3)),
        _monthly(U, "klines", "ETHUSDT", Interval.H1, "2021-03"),
    }
)
HEADER_DROPPED: frozenset[ArchiveFile] = frozenset(
    _daily(U, "klines", "ETHUSDT", Interval.H1, f"2023-02-0{d}") for d in (1, 2, 3)
)

# The month of this key is not zero-padded and it has no .CHECKSUM (#469).
UNPADDED_MONTH = _monthly(S, "klines", "ADABKRW", Interval.D1, "2020-08")
UNPADDED_KEY = "data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip"

# Old spot monthly CHECKSUMs end without a newline (#241: BTCUSDT-1s-2017-08.zip.CHECKSUM).
CHECKSUM_NO_NEWLINE_BEFORE = dt.date(2018, 1, 1)

# The empty-name directory next to the interval directories (reference §1.4), and keys that are not
# dataset files at all: the site's page, a changelog, a stray temporary upload.
EMPTY_NAME_DIRECTORY_KEY = "data/futures/um/daily/klines/BTCUSDT//"
NON_DATASET_OBJECTS: dict[str, bytes] = {
    "index.html": b"<html><body>binance-lake simulator: data.binance.vision</body></html>\n",
    "favicon.ico": b"\x00\x00\x01\x00",
    "updates/2022-10-04_aggregate_trade_updates.csv": b"File,Original File Checksum,New File Checksum\n",
    EMPTY_NAME_DIRECTORY_KEY: b"",
    "data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-03-05.zip.tmp": b"partial upload\n",
}
NON_DATASET_PUBLISHED = dt.datetime(2022, 3, 21, 8, 58, 2, tzinfo=UTC)


def has_header(file: ArchiveFile) -> bool:
    """Whether this file's CSV starts with a header line (reference §2.3)."""
    if file in HEADER_FORCED:
        return True
    if file in HEADER_DROPPED:
        return False
    if file.market is Market.SPOT:
        return False  # spot never has a header (#283)
    if file.market is Market.OPTION:
        return True
    cutover: dt.date | None = None
    if file.spec.has_interval:
        cutover = quirks.UM_KLINES_HEADER_FROM if file.market is U else quirks.CM_KLINES_HEADER_FROM
    elif file.dataset in ("aggTrades", "trades"):
        cutover = quirks.UM_TRADES_HEADER_FROM if file.market is U else quirks.CM_KLINES_HEADER_FROM
    return cutover is None or file.period >= cutover


def end_labelled_metrics(file: ArchiveFile) -> bool:
    """UM metrics before 2026-06-25 label each row with its period's end (00:05 ... 00:00 next day, #491)."""
    return (
        file.market is U and file.dataset == "metrics" and file.period < quirks.UM_METRICS_START_LABELS_FROM
    )


def checksum_has_newline(file: ArchiveFile) -> bool:
    return not (file.market is S and file.cadence is M and file.period < CHECKSUM_NO_NEWLINE_BEFORE)
