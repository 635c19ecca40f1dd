"""The refresh's fast key path: parsing a directory once and only the date of each file name gives exactly the
rows (and the non-dataset keys) that the general `parse_key` gives, whatever the keys and their order."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.binance.listing import ListedObject
from binance_lake.catalog.refresh import Listing
from binance_lake.catalog.store import SeenFile, seen_table
from binance_lake.core.archive import CHECKSUM_SUFFIX, ArchiveFile, NotADatasetFile, parse_key
from binance_lake.core.vocabulary import Cadence, Interval, Market

T0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_FILES = [
    ArchiveFile(Market.UM, Cadence.DAILY, "klines", "BTCUSDT", Interval.H1, dt.date(2024, 1, 1)),
    ArchiveFile(Market.UM, Cadence.MONTHLY, "fundingRate", "ETHUSDT", None, dt.date(2024, 2, 1)),
    ArchiveFile(Market.SPOT, Cadence.MONTHLY, "klines", "ADABKRW", Interval.D1, dt.date(2020, 8, 1)),
    ArchiveFile(Market.CM, Cadence.DAILY, "metrics", "BTCUSD_PERP", None, dt.date(2023, 3, 5)),
]


@st.composite
def keys(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(_FILES))
    day = draw(st.dates(dt.date(2019, 1, 1), dt.date(2026, 12, 31)))
    period = day if base.cadence is Cadence.DAILY else day.replace(day=1)
    file = ArchiveFile(base.market, base.cadence, base.dataset, base.symbol, base.interval, period)
    key = draw(st.sampled_from([file.key, file.checksum_key]))
    odd = draw(
        st.sampled_from(
            [
                None,
                lambda k: k.replace(f"-{period.month:02d}", f"-{period.month}", 1),  # un-padded month (#469)
                lambda k: k + ".tmp",
                lambda k: k.replace(".zip", ".zap"),
                lambda k: k.replace(base.symbol + "-", "OTHERUSDT-"),
                lambda k: k.replace(period.isoformat(), f"{period.year}-02-30"),  # not a date
                lambda k: k.rsplit("/", 1)[0] + "/",
            ]
        )
    )
    if odd is not None:
        key = odd(key.rsplit("/", 1)[0] + "/" + key.rsplit("/", 1)[1])
    return key


def _general(objects: list[ListedObject]) -> tuple[list[tuple[object, ...]], list[tuple[str, str]]]:
    files: dict[str, ListedObject] = {}
    checksums: dict[str, int] = {}
    other: list[tuple[str, str]] = []
    parsed_by_key = {}
    for listed in objects:
        parsed = parse_key(listed.key)
        if isinstance(parsed, NotADatasetFile):
            other.append((parsed.key, parsed.reason))
        elif parsed.is_checksum:
            checksums[parsed.zip_key] = listed.size
        else:
            files[listed.key] = listed
            parsed_by_key[listed.key] = parsed
    seen = [
        SeenFile(parsed_by_key[k], o.size, o.etag, o.last_modified, checksums.get(k))
        for k, o in files.items()
    ]
    return sorted(tuple(r.values()) for r in seen_table(seen).to_pylist()), other


@settings(max_examples=200, deadline=None)
@given(st.lists(keys(), unique=True, max_size=40))
def test_fast_path_equals_parse_key(listed_keys: list[str]) -> None:
    objects = [
        ListedObject(k, 10 + i if not k.endswith(CHECKSUM_SUFFIX) else 90 + i, f"e{i}", T0)
        for i, k in enumerate(listed_keys)
    ]
    listing = Listing()
    # Two leaves, as two directory listings would give them; keys arrive in any order.
    half = len(objects) // 2
    for part in (objects[:half], objects[half:]):
        rows = listing.rows()
        for listed in part:
            rows.add(listed)
        listing.add_rows(rows)
    expected_rows, expected_other = _general(objects[:half])
    rest_rows, rest_other = _general(objects[half:])
    got = sorted(tuple(r.values()) for r in listing.table().to_pylist())
    assert got == sorted(expected_rows + rest_rows)
    assert sorted(listing.other) == sorted(expected_other + rest_other)
    assert listing.files_seen == len(got)
