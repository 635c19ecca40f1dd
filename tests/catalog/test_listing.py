"""The listing fast path and `core.archive` share one key grammar: for every key core/archive.py can build
(every dataset, market, cadence, interval, symbol and date), the fast path recognises the siblings of a
directory without `parse_key` and gives exactly the rows `parse_key` gives."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.binance.listing import ListedObject
from binance_lake.catalog.listing import Listing, Rows
from binance_lake.core.archive import (
    FILE_TAILS,
    PERIOD_TEXT_LENGTH,
    ArchiveFile,
    ParsedKey,
    canonical_period,
    file_stem,
    parse_key,
)
from binance_lake.core.timerange import month_start
from binance_lake.core.vocabulary import Cadence
from tests.catalog.test_refresh import T0, _general
from tests.core.test_archive import _files


def _sibling(file: ArchiveFile, step: int) -> ArchiveFile:
    """The same series `step` periods later."""
    if file.cadence is Cadence.DAILY:
        period = file.period + dt.timedelta(days=step)
    else:
        period = month_start(file.period + dt.timedelta(days=31 * step))
    return ArchiveFile(file.market, file.cadence, file.dataset, file.symbol, file.interval, period)


@given(_files())
def test_file_names_are_stem_period_tail(file: ArchiveFile) -> None:
    stem = file_stem(file.symbol, file.interval, file.dataset)
    name = file.file_name
    assert name.startswith(stem)
    period_text = name[len(stem) : len(stem) + PERIOD_TEXT_LENGTH[file.cadence]]
    assert canonical_period(period_text, file.cadence) == file.period
    assert name[len(stem) + len(period_text) :] == FILE_TAILS[0]
    assert file.checksum_key[len(file.directory) + len(stem) + len(period_text) :] == FILE_TAILS[1]
    parsed = parse_key(file.key)
    assert isinstance(parsed, ParsedKey) and parsed.file.period == canonical_period(period_text, file.cadence)


@settings(max_examples=300, deadline=None)
@given(_files(), st.lists(st.integers(0, 40), unique=True, min_size=1, max_size=12), st.randoms())
def test_fast_path_recognises_every_built_key(
    file: ArchiveFile, steps: list[int], shuffle: random.Random
) -> None:
    files = [_sibling(file, s) for s in sorted(steps)]
    objects = [ListedObject(f.key, 10 + i, f"e{i}", T0) for i, f in enumerate(files)]
    objects += [ListedObject(f.checksum_key, 90 + i, f"c{i}", T0) for i, f in enumerate(files)]
    shuffle.shuffle(objects)
    slow: list[str] = []
    original = Rows._add_slow

    def counted(rows: Rows, listed: ListedObject) -> None:
        slow.append(listed.key)
        original(rows, listed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rows, "_add_slow", counted)
        listing = Listing()
        rows = listing.rows()
        for listed in objects:
            rows.add(listed)
        listing.add_rows(rows)
    # Only the directory's first key goes through `parse_key`; every sibling takes the fast path.
    assert slow == [objects[0].key]
    expected_rows, expected_other = _general(objects)
    assert sorted(tuple(r.values()) for r in listing.table().to_pylist()) == expected_rows
    assert listing.other == expected_other == []
