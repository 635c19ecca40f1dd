"""`update --fill-gaps` and confirmed gaps: bars missing inside held days are asked from REST; a window REST
lacks too for every symbol asked (the simulator's exchange maintenance, sim/market_model.py) is recorded as a
confirmed `maintenance` gap, and the next `update --fill-gaps` makes no REST request for it. Pure parts:
what a REST answer lacks, and the maintenance/absent verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from binance_lake import Lake
from binance_lake.core.datasets import get_dataset
from binance_lake.core.series_key import SeriesKey
from binance_lake.core.timerange import UTC, day_start, to_millis
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.engine.rest_fill import RestWindow
from binance_lake.engine.rest_gaps import confirm, lacking
from binance_lake.sim.market_model import MAINTENANCE_WINDOWS
from binance_lake.sim.server import SimServer
from binance_lake.sim.universe import Universe
from binance_lake.storage.database import LakeDatabase
from binance_lake.storage.rest_gaps import GapKind, rest_gaps

BEGIN, END = MAINTENANCE_WINDOWS[-1]  # 2025-08-14 02:00 .. 02:45
NOW = dt.datetime(2025, 8, 17, 6, 0, tzinfo=UTC)
M = 60_000


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(Universe.build("small", now=NOW)) as running:
        yield running


def test_a_maintenance_window_rest_lacks_too_is_confirmed_and_never_asked_again(
    server: SimServer, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    lake = Lake(root, settings=server.settings(root))
    assert lake.sync(
        datasets="klines", intervals="1m", symbols="BTCUSDT,ETHUSDT", start="2025-08-12", end="2025-08-15"
    ).ok
    first = lake.update(fill_gaps=True, days_back=1)
    assert first.ok
    holes = [w for w in first.fill.windows if w.first_day == BEGIN.date()]
    assert {w.series.symbol for w in holes} == {"BTCUSDT", "ETHUSDT"}
    assert all((w.start_ms, w.end_ms) == (to_millis(BEGIN), to_millis(END) - M) for w in holes)
    assert {(g.series.symbol, g.start, g.end, g.kind) for g in first.confirmed_gaps} == {
        (s, BEGIN, END - dt.timedelta(minutes=1), GapKind.MAINTENANCE) for s in ("BTCUSDT", "ETHUSDT")
    }
    with LakeDatabase(root).connect(read_only=True) as connection:
        assert len(rest_gaps(connection)) == 2

    second = lake.update(fill_gaps=True, days_back=1)
    assert second.ok and not second.confirmed_gaps
    assert all(w.first_day > BEGIN.date() for w in second.fill.windows)  # nothing asked for 08-14


def _bars(times_ms: list[int]) -> pa.Table:
    schema = get_dataset("klines").schema(Market.UM)
    column = pa.array([t * 1000 for t in times_ms], pa.int64()).cast(schema.field("open_time").type)
    return pa.table({"open_time": column})


def test_what_an_answer_lacks_on_the_grid_and_by_whole_days() -> None:
    series = SeriesKey(Market.UM, "klines", Interval.M1, "BTCUSDT")
    window = RestWindow(series, 0, 9 * M)
    assert lacking(window, _bars([0, M, 2 * M, 6 * M, 7 * M, 8 * M])) == [(3 * M, 5 * M), (9 * M, 9 * M)]
    assert lacking(window, _bars([i * M for i in range(10)])) == []
    funding = SeriesKey(Market.UM, "fundingRate", None, "BTCUSDT")
    start = to_millis(day_start(dt.date(2026, 1, 1)))
    days = RestWindow(funding, start, start + 3 * 86_400_000 - 1)
    table = pa.table(
        {
            "calc_time": pa.array([(start + 86_400_000 + 5) * 1000], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            )
        }
    )
    assert lacking(days, table) == [(start, start + 86_400_000 - 1), (start + 2 * 86_400_000, days.end_ms)]


def test_maintenance_only_when_every_symbol_asked_lacks_the_window() -> None:
    def key(symbol: str) -> SeriesKey:
        return SeriesKey(Market.UM, "klines", Interval.M1, symbol)

    empty = _bars([])
    both = confirm(
        [(RestWindow(key("A"), 0, 2 * M), empty, "a"), (RestWindow(key("B"), 0, 2 * M), empty, "b")]
    )
    assert {g.kind for g in both} == {GapKind.MAINTENANCE}
    one = confirm(
        [
            (RestWindow(key("A"), 0, 2 * M), empty, "a"),
            (RestWindow(key("B"), 0, 2 * M), _bars([0, M, 2 * M]), "b"),
        ]
    )
    assert [(g.series.symbol, g.kind) for g in one] == [("A", GapKind.ABSENT)]
