"""The simulated bucket `data.binance.vision`: which objects exist at the clock's now, their metadata
(size, ETag, Last-Modified) and their bytes.

Everything is computed on demand from the universe: a directory's entries arithmetically from the symbols'
lives, the dataset windows and the publication schedule (daily files the next day ~08:40 UTC, monthly ones
the first Monday after the month, README / reference §1.7); bytes by rendering `Universe.day_table`.
Rendered zips sit in a byte-bounded LRU keyed by key and revision; their metadata is kept for good.

Listings must never be a benchmark's bottleneck, so the per-directory and per-key paths avoid building and
validating an `ArchiveFile` for every day: a directory's files are computed as periods from one validated
template file, and the metadata of a listed file in a directory without placed quirks is arithmetic on its
key (`listed_meta`). Both agree with the general path (`head`), which the tests check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from binance_lake.core.archive import CHECKSUM_SUFFIX, ArchiveFile, ParsedKey, parse_key
from binance_lake.core.datasets import get_dataset
from binance_lake.core.timerange import UTC, day_start, iter_days, month_end, next_month
from binance_lake.core.vocabulary import Cadence, Interval, Market, has_daily_files, is_daily_file_date
from binance_lake.sim import content, placement, render
from binance_lake.sim.universe import Universe

PLANNED_ROW_BYTES = 100
DAILY_PUBLISH = dt.timedelta(hours=8, minutes=40)
MONTHLY_PUBLISH = dt.timedelta(hours=6)
# zlib level 6 costs ~40 ms per MB of CSV; payloads above 64 KB use level 1 (~4x faster, ~15 % bigger).
FAST_COMPRESS_ABOVE = 64 << 10


@dataclass(frozen=True)
class ObjectMeta:
    key: str
    size: int
    etag: str  # 32 hex digits, unquoted
    last_modified: dt.datetime


class _ByteCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, key: tuple[str, int]) -> bytes | None:
        data = self.items.get(key)
        if data is not None:
            self.items.move_to_end(key)
        return data

    def put(self, key: tuple[str, int], data: bytes) -> None:
        if key in self.items:
            return
        self.items[key] = data
        self.used += len(data)
        while self.used > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.used -= len(old)


def served_key(file: ArchiveFile) -> str:
    return placement.UNPADDED_KEY if file == placement.UNPADDED_MONTH else file.key


def unit(seed: int, tag: str, key: str) -> float:
    """`market_model.unit_hash(seed, tag, key)` without the generic str() of each part (it is hot)."""
    digest = hashlib.blake2b(f"{seed}|{tag}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def with_period(template: ArchiveFile, period: dt.date) -> ArchiveFile:
    """`template` for another period of the same directory, without re-validating the combination.

    `ArchiveFile(...)` checks the dataset/market/interval/symbol against the registry (~6 us); a directory's
    files differ only in their period, which the callers take from the directory's own calendar (a monthly
    period is always the 1st), so the check done once for the template holds for all of them.
    """
    file = object.__new__(ArchiveFile)
    object.__setattr__(file, "__dict__", {**template.__dict__, "period": period})
    return file


def _quirk_directories() -> frozenset[str]:
    placed: list[ArchiveFile] = [
        *placement.MISSING_FILES,
        *placement.LATE_FILES,
        *placement.REUPLOADS,
        *placement.WRONG_CHECKSUMS,
        *placement.TRUNCATED,
        *placement.DUPLICATED,
        *placement.UNORDERED,
        *placement.HEADER_FORCED,
        *placement.HEADER_DROPPED,
        placement.UNPADDED_MONTH,
    ]
    return frozenset(f.directory for f in placed)


# Directories holding a placed quirk: their files take the general (per-file) path everywhere.
QUIRK_DIRECTORIES = _quirk_directories()
_ONE_DAY = dt.timedelta(days=1)
_ONE_SECOND = dt.timedelta(seconds=1)
_DAILY_OFFSET = int((_ONE_DAY + DAILY_PUBLISH).total_seconds())
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
CHECKSUM_EARLY_RATE = 0.3


def _first_monday_after(month: dt.date) -> dt.date:
    start = next_month(month)
    return start + dt.timedelta(days=(7 - start.weekday()) % 7)


class Bucket:
    """The archive's objects. Thread-safe: the server thread and test threads may both read it."""

    def __init__(self, universe: Universe, cache_bytes: int = 512 << 20) -> None:
        self.universe = universe
        self._lock = threading.RLock()
        self._bytes = _ByteCache(cache_bytes)
        self._meta: dict[tuple[str, int], tuple[int, str]] = {}

    # ------------------------------------------------------------ what exists

    def window(
        self, market: Market, dataset: str, symbol: str, interval: Interval | None
    ) -> tuple[dt.date, dt.date] | None:
        """First and last day this directory can hold files for (ignoring publication)."""
        u = self.universe
        life = u.life_of(market, symbol)
        if life is None:
            return None
        owners = u.pair_members(market, symbol) if get_dataset(dataset).directory_is_pair else (life,)
        if u.symbol(market, symbol) is None and not get_dataset(dataset).directory_is_pair:
            return None
        if not any(dataset in u.offer(market, s.symbol) for s in owners):
            return None
        if interval is not None and not any(
            interval in u.offer(market, s.symbol).get(dataset, ()) for s in owners
        ):
            return None
        spec = get_dataset(dataset)
        first = max(life.listed, spec.first_day.get(market, life.listed))
        last = life.delisted or dt.date.max
        last = min(last, spec.last_day.get(market, last))
        narrow = u.windows.get((market, life.symbol, dataset, interval))
        if narrow is not None:
            first = max(first, narrow[0])
            last = min(last, narrow[1] or last)
        return (first, last) if first <= last else None

    def publish_time(self, file: ArchiveFile) -> dt.datetime:
        moment = self.scheduled_time(file.key, file.cadence, file.period)
        late = placement.LATE_FILES.get(file)
        return moment if late is None else moment + late

    def scheduled_time(self, key: str, cadence: Cadence, period: dt.date) -> dt.datetime:
        """When the file with canonical `key` is uploaded, before any late-upload delay."""
        jitter = unit(self.universe.seed, "publish", key)
        if cadence is Cadence.DAILY:  # the next day at 08:40 plus up to 20 minutes
            days = period.toordinal() - _EPOCH_ORDINAL
            return _EPOCH + dt.timedelta(days=days, seconds=_DAILY_OFFSET + int(jitter * 1200))
        return (
            day_start(_first_monday_after(period))
            + MONTHLY_PUBLISH
            + dt.timedelta(seconds=int(jitter * 3600))
        )

    def _day_ok(self, file: ArchiveFile, day: dt.date) -> bool:
        life = self.universe.life_of(file.market, file.symbol)
        return life is not None and life.active_on(day)

    def periods(
        self,
        market: Market,
        cadence: Cadence,
        dataset: str,
        symbol: str,
        interval: Interval | None,
        now: dt.datetime,
    ) -> list[ArchiveFile]:
        """The files of one directory that are published at `now`, oldest first."""
        template, periods = self.directory_periods(market, cadence, dataset, symbol, interval, now)
        if template is None:
            return []
        return [template if p == template.period else with_period(template, p) for p in periods]

    def directory_periods(
        self,
        market: Market,
        cadence: Cadence,
        dataset: str,
        symbol: str,
        interval: Interval | None,
        now: dt.datetime,
    ) -> tuple[ArchiveFile | None, list[dt.date]]:
        """The periods of one directory's files published at `now`, oldest first, and a validated file of
        that directory (None when it has no candidate file; `ArchiveFile` raises for a bad combination)."""
        window = self.window(market, dataset, symbol, interval)
        spec = get_dataset(dataset)
        if window is None or cadence not in spec.cadences:
            return None, []
        first, last = window
        last = min(last, now.date())
        life = self.universe.life_of(market, symbol)
        gaps = life.gaps if life is not None else ()
        periods: list[dt.date] = []
        if cadence is Cadence.DAILY:
            if interval is not None and not has_daily_files(market, interval):
                return None, []
            phased = interval in (Interval.D3, Interval.W1, Interval.MO1)
            day = first
            while day <= last:
                if (interval is None or not phased or is_daily_file_date(interval, day)) and (
                    life is not None and (not gaps or life.active_on(day))
                ):
                    periods.append(day)
                day += _ONE_DAY
        else:
            month = first.replace(day=1)
            while month <= last:
                lo, hi = max(first, month), min(month_end(month), window[1])
                if life is not None and (
                    any(life.active_on(d) for d in iter_days(lo, hi)) if gaps else lo <= hi
                ):
                    periods.append(month)
                month = next_month(month)
        if not periods:
            return None, []
        template = ArchiveFile(market, cadence, dataset, symbol, interval, periods[0])
        if template.directory in QUIRK_DIRECTORIES:
            # A late upload can hide a file older than the newest published ones (#150).
            periods = [
                p
                for p in periods
                if (file := with_period(template, p)) not in placement.MISSING_FILES
                and (file not in placement.LATE_FILES or self.publish_time(file) <= now)
            ]
        # Only the newest few can still be unpublished (late uploads add at most a few days, and late files
        # live in quirk directories, filtered above).
        cut = len(periods)
        while cut > 0 and self._published_after(template, periods[cut - 1], now):
            cut -= 1
        tail = [p for p in periods[cut:] if not self._published_after(template, p, now)]
        return template, periods[:cut] + tail

    def _published_after(self, template: ArchiveFile, period: dt.date, now: dt.datetime) -> bool:
        return self.publish_time(with_period(template, period)) > now

    def visible_file(self, file: ArchiveFile, now: dt.datetime) -> bool:
        if file in placement.MISSING_FILES or self.publish_time(file) > now:
            return False
        window = self.window(file.market, file.dataset, file.symbol, file.interval)
        if window is None or file.cadence not in file.spec.cadences:
            return False
        if file.cadence is Cadence.DAILY:
            if file.interval is not None and not (
                has_daily_files(file.market, file.interval) and is_daily_file_date(file.interval, file.period)
            ):
                return False
            return window[0] <= file.period <= window[1] and self._day_ok(file, file.period)
        days = iter_days(max(window[0], file.period), min(month_end(file.period), window[1]))
        return any(self._day_ok(file, d) for d in days)

    def revision(self, file: ArchiveFile, now: dt.datetime) -> int:
        moment = placement.REUPLOADS.get(file)
        return 2 if moment is not None and now >= moment else 1

    # ------------------------------------------------------------ objects

    def resolve(self, key: str, now: dt.datetime) -> ParsedKey | str | None:
        """A visible dataset key, a non-dataset key (returned as is), or None when nothing is there."""
        if key in placement.NON_DATASET_OBJECTS:
            return key
        parsed = parse_key(key)
        if not isinstance(parsed, ParsedKey):
            return None
        file = parsed.file
        if served_key(file) != parsed.zip_key:
            return None
        if parsed.is_checksum and file == placement.UNPADDED_MONTH:
            return None  # the malformed key has no .CHECKSUM (#469)
        return parsed if self.visible_file(file, now) else None

    def head(self, key: str, now: dt.datetime) -> ObjectMeta | None:
        target = self.resolve(key, now)
        if target is None:
            return None
        if isinstance(target, str):
            data = placement.NON_DATASET_OBJECTS[target]
            return ObjectMeta(key, len(data), hashlib.md5(data).hexdigest(), placement.NON_DATASET_PUBLISHED)
        return self._meta_of(target, now)

    def get(self, key: str, now: dt.datetime) -> tuple[ObjectMeta, bytes] | None:
        target = self.resolve(key, now)
        if target is None:
            return None
        if isinstance(target, str):
            data = placement.NON_DATASET_OBJECTS[target]
            return self.head(key, now) or ObjectMeta(key, 0, "", placement.NON_DATASET_PUBLISHED), data
        return self._meta_of(target, now), self._data_of(target, now)

    def last_modified(self, parsed: ParsedKey, now: dt.datetime) -> dt.datetime:
        file = parsed.file
        moment = placement.REUPLOADS.get(file)
        stamp = moment if moment is not None and now >= moment else self.publish_time(file)
        if parsed.is_checksum and unit(self.universe.seed, "checksum-early", file.key) < CHECKSUM_EARLY_RATE:
            stamp -= _ONE_SECOND  # the .CHECKSUM can be a second older than its zip (§1.5)
        return stamp

    def _meta_of(self, parsed: ParsedKey, now: dt.datetime) -> ObjectMeta:
        file = parsed.file
        rev = self.revision(file, now)
        stamp = self.last_modified(parsed, now)
        if self.universe.planned_sizes:
            identity = f"{self.universe.seed}:{parsed.key}:{rev}".encode()
            etag = hashlib.md5(identity).hexdigest()
            name = served_key(file).rsplit("/", 1)[1]
            size = 64 + 2 + len(name) + 1 if parsed.is_checksum else self.planned_size(file)
            return ObjectMeta(parsed.key, size, etag, stamp)
        cache_key = (parsed.key, rev)
        with self._lock:
            known = self._meta.get(cache_key)
        if known is None:
            data = self._data_of(parsed, now)
            known = (len(data), hashlib.md5(data).hexdigest())
            with self._lock:
                self._meta[cache_key] = known
        return ObjectMeta(parsed.key, known[0], known[1], stamp)

    def lister(
        self, template: ArchiveFile, now: dt.datetime, *, quirky: bool
    ) -> Callable[[dt.date, str], ObjectMeta]:
        """`meta(period, key)` for the keys a listing found in `template`'s directory (so visible at `now`).

        Equal to `head(key, now)`. In a planned-size universe, outside the directories holding placed
        quirks, it is arithmetic on the key: no parsing, no `ArchiveFile`, no registry lookups, and a zip
        and its `.CHECKSUM` (listed one after the other) share their upload time.
        """
        if quirky or not self.universe.planned_sizes:

            def general(period: dt.date, key: str) -> ObjectMeta:
                file = template if period == template.period else with_period(template, period)
                return self._meta_of(ParsedKey(file, key, key.endswith(CHECKSUM_SUFFIX)), now)

            return general
        seed = self.universe.seed
        cadence = template.cadence
        daily = cadence is Cadence.DAILY
        row_bytes = self._planned_rows(template, 1) * PLANNED_ROW_BYTES
        suffix = len(CHECKSUM_SUFFIX)
        zip_stamp: dict[str, dt.datetime] = {}  # the last zip's, for its .CHECKSUM listed next
        md5 = hashlib.md5

        def planned(period: dt.date, key: str) -> ObjectMeta:
            etag = md5(f"{seed}:{key}:1".encode()).hexdigest()
            if key.endswith(CHECKSUM_SUFFIX):
                zip_key = key[:-suffix]
                stamp = zip_stamp.get(zip_key) or self.scheduled_time(zip_key, cadence, period)
                if unit(seed, "checksum-early", zip_key) < CHECKSUM_EARLY_RATE:
                    stamp -= _ONE_SECOND  # the .CHECKSUM can be a second older than its zip (§1.5)
                return ObjectMeta(key, 64 + 2 + len(zip_key) - zip_key.rindex("/"), etag, stamp)
            stamp = self.scheduled_time(key, cadence, period)
            zip_stamp.clear()
            zip_stamp[key] = stamp
            days = 1 if daily else (month_end(period) - period).days + 1
            return ObjectMeta(key, days * row_bytes + 512 + 2 * (len(key) - key.rindex("/") - 1), etag, stamp)

        return planned

    def planned_size(self, file: ArchiveFile) -> int:
        """Listing-friendly size for planned-size universes: an upper bound the zip is padded to."""
        name = served_key(file).rsplit("/", 1)[1]
        return self._planned_rows(file, len(file.days())) * PLANNED_ROW_BYTES + 512 + 2 * len(name)

    @staticmethod
    def _planned_rows(file: ArchiveFile, days: int) -> int:
        if file.interval is None:
            return days * (288 if file.dataset == "metrics" else 24)
        if file.interval is Interval.MO1 or file.interval in (Interval.D3, Interval.W1):
            return days
        return days * max(86_400_000 // file.interval.milliseconds, 1)

    def _data_of(self, parsed: ParsedKey, now: dt.datetime) -> bytes:
        file = parsed.file
        rev = self.revision(file, now)
        zip_key = served_key(file)
        with self._lock:
            cached = self._bytes.get((parsed.key, rev))
        if cached is not None:
            return cached
        if parsed.is_checksum:
            zip_data = self._data_of(ParsedKey(file, zip_key, False), now)
            if file in placement.WRONG_CHECKSUMS:
                zip_data += b"\x00"  # a checksum of other bytes: never matches (#405, #498)
            name = zip_key.rsplit("/", 1)[1]
            data = render.checksum_text(zip_data, name, newline=placement.checksum_has_newline(file))
        else:
            data = self.render_zip(file, rev)
        with self._lock:
            self._bytes.put((parsed.key, rev), data)
        return data

    # ------------------------------------------------------------ rendering

    def file_table(self, file: ArchiveFile, revision: int = 2) -> pa.Table:
        """The rows the file holds, quirks applied (duplicates, disorder, truncation, early upload)."""
        u = self.universe
        window = self.window(file.market, file.dataset, file.symbol, file.interval)
        days = [d for d in file.days() if window is None or window[0] <= d <= window[1]]
        tables = [u.day_table(file.market, file.dataset, file.symbol, file.interval, d) for d in days]
        table = pa.concat_tables(tables) if tables else file.spec.schema(file.market).empty_table()
        n = table.num_rows
        if file.dataset == "liquidationSnapshot":
            table = table.take([i // 2 for i in range(2 * n)])  # every row twice (#259, #337)
        if placement.end_labelled_metrics(file):
            shifted = pa.compute.add(table.column("create_time"), pa.scalar(dt.timedelta(minutes=5)))
            table = table.set_column(0, "create_time", shifted)
        if file in placement.DUPLICATED:
            start = n // 3
            table = table.take(list(range(start)) + [i for i in range(start, n) for _ in (0, 1)])
        if file in placement.UNORDERED:
            half = (n + 1) // 2
            table = table.take([j for i in range(half) for j in (i, i + half) if j < n])
        if file in placement.TRUNCATED:
            table = table.slice(0, int(n * placement.TRUNCATED_KEEP))
        if file in placement.REUPLOADS and revision == 1:
            table = table.slice(0, n - max(n // 10, 1))
        return table

    def render_zip(self, file: ArchiveFile, revision: int) -> bytes:
        u = self.universe
        table = self.file_table(file, revision)
        options = render.RenderOptions(
            header=placement.has_header(file),
            epoch_unit=file.spec.epoch_unit(file.market, file.period),
            spot_booleans=file.market is Market.SPOT,
            symbol=file.symbol,
            decimals=content.decimals(u, file.market, file.dataset, file.symbol),
        )
        payload = render.csv_bytes(table, file.spec.layout(file.market), options)
        name = served_key(file).rsplit("/", 1)[1]
        level = 1 if len(payload) > FAST_COMPRESS_ABOVE else render.COMPRESS_LEVEL
        target = self.planned_size(file) if u.planned_sizes else None
        return render.zip_bytes(name.removesuffix(".zip") + ".csv", payload, comment_to=target, level=level)

    def checksum_key(self, file: ArchiveFile) -> str | None:
        return None if file == placement.UNPADDED_MONTH else served_key(file) + CHECKSUM_SUFFIX

    def iter_file_keys(self, file: ArchiveFile) -> Iterator[str]:
        yield served_key(file)
        checksum = self.checksum_key(file)
        if checksum is not None:
            yield checksum


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC)
