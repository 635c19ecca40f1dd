"""Small hand-made lakes for the read-side tests: random-walk bars, funding and metrics written to their
partition paths, with consistent `file_state` (what the lake holds) and `upstream_files` (what the archive
has) rows, as a sync would leave them."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from binance_lake.catalog.store import SCHEMA, record_listed
from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.partitions import partition_for_day
from binance_lake.core.timerange import day_start, iter_days, iter_months, month_end
from binance_lake.core.vocabulary import Cadence, Interval, Market
from binance_lake.engine.state import STATE_SCHEMA, FileState, FileStatus, record
from binance_lake.storage.database import LakeDatabase

UTC = dt.UTC
US = 1_000_000


def bars(
    start: dt.datetime,
    count: int,
    interval: Interval,
    *,
    seed: int = 1,
    price: float = 100.0,
    micros: bool = False,
) -> pa.Table:
    """`count` random-walk kline bars from `start`, Binance-shaped (close_time = next open − 1 ms or 1 µs)."""
    rng = random.Random(seed)
    step = interval.duration
    tick = dt.timedelta(microseconds=1) if micros else dt.timedelta(milliseconds=1)
    rows: dict[str, list[object]] = {n: [] for n in get_dataset("klines").schema(Market.UM).names}
    for i in range(count):
        opened = start + i * step
        open_ = price
        moves = [price * (1 + rng.gauss(0, 0.002)) for _ in range(4)]
        price = moves[-1]
        volume = rng.uniform(1, 100)
        vwap = sum(moves) / 4
        taker = volume * rng.uniform(0.2, 0.8)
        rows["open_time"].append(opened)
        rows["open"].append(open_)
        rows["high"].append(max(open_, *moves))
        rows["low"].append(min(open_, *moves))
        rows["close"].append(price)
        rows["volume"].append(volume)
        rows["close_time"].append(opened + step - tick)
        rows["quote_volume"].append(volume * vwap)
        rows["count"].append(rng.randint(1, 500))
        rows["taker_buy_volume"].append(taker)
        rows["taker_buy_quote_volume"].append(taker * vwap)
    return pa.Table.from_pydict(rows, schema=get_dataset("klines").schema(Market.UM))


def funding(start: dt.datetime, count: int, *, seed: int = 2, hours: int = 8) -> pa.Table:
    rng = random.Random(seed)
    schema = get_dataset("fundingRate").schema(Market.UM)
    return pa.Table.from_pydict(
        {
            # calc_time sits 0-12 ms after the funding boundary (reference §2.2).
            "calc_time": [
                start + dt.timedelta(hours=hours * i, milliseconds=rng.randint(0, 12)) for i in range(count)
            ],
            "funding_interval_hours": [hours] * count,
            "last_funding_rate": [round(rng.gauss(0.0001, 0.0002), 8) for _ in range(count)],
        },
        schema=schema,
    )


def metrics(start: dt.datetime, count: int, *, seed: int = 3) -> pa.Table:
    rng = random.Random(seed)
    schema = get_dataset("metrics").schema(Market.UM)
    values = {n: [rng.uniform(0.5, 2) * 1000 for _ in range(count)] for n in schema.names[1:]}
    return pa.Table.from_pydict(
        {"create_time": [start + i * dt.timedelta(minutes=5) for i in range(count)], **values}, schema=schema
    )


def _between(table: pa.Table, column: str, first: dt.date, last: dt.date) -> pa.Table:
    times = table.column(column).to_pylist()
    lo, hi = day_start(first), day_start(last + dt.timedelta(days=1))
    return table.filter(pa.array([lo <= t < hi for t in times]))


@dataclass
class LakeBuilder:
    """Writes partitions plus the state rows a sync would have recorded for them."""

    root: Path
    states: list[FileState] = field(default_factory=list)
    upstream: list[ArchiveFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.database = LakeDatabase(self.root)
        self.database.ensure_schema((*SCHEMA, *STATE_SCHEMA))

    def put(
        self,
        dataset: str,
        symbol: str,
        table: pa.Table,
        first: dt.date,
        last: dt.date,
        *,
        market: Market = Market.UM,
        interval: Interval | None = None,
        status: FileStatus = FileStatus.INGESTED,
        upstream: bool = True,
    ) -> None:
        """Store `table`'s rows of days first..last as ingested daily (or monthly fundingRate) files."""
        spec = get_dataset(dataset)
        files = self._files(dataset, symbol, first, last, market, interval)
        if status is FileStatus.INGESTED:
            self._write(dataset, symbol, _between(table, spec.time_column, first, last), market, interval)
        self.states.extend(FileState(f.key, f, status, rows=1) for f in files)
        if upstream:
            self.upstream.extend(files)

    def held(
        self,
        dataset: str,
        symbol: str,
        first: dt.date,
        last: dt.date,
        *,
        market: Market = Market.UM,
        interval: Interval | None = None,
    ) -> None:
        """State and catalog rows only, for partitions the caller wrote itself (large ones, made fast)."""
        files = self._files(dataset, symbol, first, last, market, interval)
        self.states.extend(FileState(f.key, f, FileStatus.INGESTED, rows=1) for f in files)
        self.upstream.extend(files)

    def announce(
        self,
        dataset: str,
        symbol: str,
        first: dt.date,
        last: dt.date,
        *,
        market: Market = Market.UM,
        interval: Interval | None = None,
    ) -> None:
        """Catalog rows only: the archive has these files, the lake does not."""
        self.upstream.extend(self._files(dataset, symbol, first, last, market, interval))

    @staticmethod
    def _files(
        dataset: str, symbol: str, first: dt.date, last: dt.date, market: Market, interval: Interval | None
    ) -> list[ArchiveFile]:
        if get_dataset(dataset).cadences == frozenset({Cadence.MONTHLY}):
            return [
                ArchiveFile(market, Cadence.MONTHLY, dataset, symbol, interval, m)
                for m in iter_months(first, last)
            ]
        return [
            ArchiveFile(market, Cadence.DAILY, dataset, symbol, interval, d) for d in iter_days(first, last)
        ]

    def _write(
        self, dataset: str, symbol: str, rows: pa.Table, market: Market, interval: Interval | None
    ) -> None:
        spec = get_dataset(dataset)
        times = rows.column(spec.time_column).to_pylist()
        by_partition: dict[Path, list[int]] = {}
        paths: dict[dt.date, Path] = {}
        for i, t in enumerate(times):
            day = t.date()
            if day not in paths:
                paths[day] = self.root / partition_for_day(dataset, market, interval, symbol, day).path
            by_partition.setdefault(paths[day], []).append(i)
        for path, idx in by_partition.items():
            new = rows.take(idx)
            if path.exists():
                new = pa.concat_tables([pq.read_table(path, partitioning=None), new])
                new = new.sort_by(spec.time_column)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(new, path, compression="zstd")

    def commit(self) -> None:
        now = dt.datetime(2026, 1, 1, tzinfo=UTC)
        with self.database.connect() as c:
            record(c, self.states, now=now)
            self.states.clear()
            listed = pa.Table.from_pylist(
                [
                    {
                        "key": f.key,
                        "market": f.market.value,
                        "dataset": f.dataset,
                        "symbol": f.symbol,
                        "interval": f.interval.value if f.interval else None,
                        "cadence": f.cadence.value,
                        "period": f.period,
                        "first_day": f.first_day,
                        "last_day": f.last_day,
                        "now": now,
                    }
                    for f in self.upstream
                ],
                schema=pa.schema(
                    [
                        *(
                            (n, pa.string())
                            for n in ("key", "market", "dataset", "symbol", "interval", "cadence")
                        ),
                        *((n, pa.date32()) for n in ("period", "first_day", "last_day")),
                        ("now", pa.timestamp("us", tz="UTC")),
                    ]
                ),
            )
            c.register("listed", listed)
            c.execute(
                'INSERT INTO upstream_files SELECT key, market, dataset, symbol, "interval", cadence, period, '
                "first_day, last_day, 100, 'e', now, 92, true, now, now, false FROM listed"
            )
            c.unregister("listed")
            # As a complete refresh would: every market's whole archive counts as listed, so days the
            # catalog has no file for are known to be absent upstream, not unknown.
            markets = sorted({f.market for f in self.upstream}, key=lambda m: m.value)
            record_listed(c, [(f"data/{m.archive_dir}/", None, None) for m in markets], now=now)
            self.upstream.clear()


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), month_end(day)
