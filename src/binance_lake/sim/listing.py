"""S3 ListObjects (v1 and v2) over the simulated bucket, shaped like the captures in reference §3.3.

The bucket is walked as a lazy tree: each directory's sorted entry names are computed on demand, the marker
is found by binary search at every level, and a common prefix skips its whole subtree. Directories are
memoised per (path, clock instant) across requests (bounded LRU), so the pages of one listing share them;
the keys of a page get their metadata arithmetically from their directory (`Bucket.listed_meta`), not by
parsing each key. A 1000-key page of the large universe takes a few milliseconds.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import month_text
from binance_lake.core.vocabulary import Cadence, Interval, Market, has_daily_files, is_daily_file_date
from binance_lake.sim import placement
from binance_lake.sim.bucket import QUIRK_DIRECTORIES, Bucket, ObjectMeta, served_key, with_period
from binance_lake.sim.universe import Universe

BUCKET_NAME = "data.binance.vision"
MAX_KEYS = 1000
# Directories memoised per bucket: a leaf of ~2500 daily files is ~5000 names (~0.5 MB), so at most ~32 MB;
# a listing needs the few directories on its path, concurrent listings a few each.
MEMO_DIRECTORIES = 64
_AFTER_ALL = "\U0010ffff"
_MARKET_DIRS = {
    "spot": Market.SPOT,
    "futures/um": Market.UM,
    "futures/cm": Market.CM,
    "option": Market.OPTION,
}


@dataclass(frozen=True)
class ListRequest:
    prefix: str = ""
    delimiter: str | None = None
    marker: str = ""  # v1 marker, or v2 max(start-after, continuation token)
    max_keys: int = MAX_KEYS
    v2: bool = False
    continuation_token: str | None = None
    start_after: str | None = None
    url_encoding: bool = False


@dataclass(frozen=True)
class ListPage:
    contents: list[ObjectMeta]
    common_prefixes: list[str]
    truncated: bool
    last: str | None  # the last key or common prefix returned


@dataclass(frozen=True)
class Directory:
    """One directory's sorted entry names at one instant (`name/` for subdirectories).

    In a directory of dataset files, `periods[i]` is the period of the file named `names[i]` (None for
    subdirectories and non-dataset objects) and `template` a validated file of the directory to derive the
    others from; `quirky` when a placed quirk lives there (its files take the general path).
    """

    names: list[str]
    periods: list[dt.date | None] = field(default_factory=list)
    template: ArchiveFile | None = None
    quirky: bool = False


_EMPTY = Directory([], [])


class _Memo:
    """Directories already computed for one bucket, by (path, now). Bounded LRU, thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[tuple[str, dt.datetime], Directory] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, dt.datetime]) -> Directory | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[str, dt.datetime], directory: Directory) -> None:
        with self.lock:
            self.items[key] = directory
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)


_MEMOS: weakref.WeakKeyDictionary[Bucket, _Memo] = weakref.WeakKeyDictionary()
_MEMOS_LOCK = threading.Lock()


def _memo_of(bucket: Bucket) -> _Memo:
    with _MEMOS_LOCK:
        memo = _MEMOS.get(bucket)
        if memo is None:
            memo = _MEMOS[bucket] = _Memo(MEMO_DIRECTORIES)
        return memo


class Tree:
    """Sorted directory entries of the bucket at one instant (`name/` for subdirectories)."""

    def __init__(self, bucket: Bucket, now: dt.datetime) -> None:
        self.bucket = bucket
        self.universe = bucket.universe
        self.now = now
        self._memo = _memo_of(bucket)
        # by id(directory), with the directory itself so a recycled id is never mistaken for it
        self._listers: dict[int, tuple[Directory, Callable[[dt.date, str], ObjectMeta]]] = {}

    def entries(self, path: str) -> list[str]:
        return self.directory(path).names

    def directory(self, path: str) -> Directory:
        key = (path, self.now)
        found = self._memo.get(key)
        if found is None:
            found = self._with_extras(path, self._directory(path))
            self._memo.put(key, found)
        return found

    def _with_extras(self, path: str, directory: Directory) -> Directory:
        extras = list(self._extras(path))
        names, periods = directory.names, directory.periods or [None] * len(directory.names)
        if extras or any(a >= b for a, b in itertools.pairwise(names)):
            merged = dict(zip(names, periods, strict=True))
            for extra in extras:
                merged.setdefault(extra, None)
            ordered = sorted(merged)
            names, periods = ordered, [merged[n] for n in ordered]
        return Directory(names, periods, directory.template, directory.quirky)

    @staticmethod
    def _extras(path: str) -> Iterator[str]:
        for key in placement.NON_DATASET_OBJECTS:
            if key.startswith(path):
                rest = key[len(path) :]
                cut = rest.find("/")
                yield rest if cut < 0 else rest[: cut + 1]

    def _directory(self, path: str) -> Directory:
        if path == "":
            return Directory(["data/"])
        if not path.startswith("data/"):
            return _EMPTY
        parts = path[len("data/") : -1].split("/") if path != "data/" else []
        if not parts:
            return Directory(["futures/", "option/", "spot/"])
        if parts == ["futures"]:
            return Directory(["cm/", "um/"])
        head = "/".join(parts[:2]) if parts[0] == "futures" else parts[0]
        market = _MARKET_DIRS.get(head)
        if market is None:
            return _EMPTY
        rest = parts[2:] if parts[0] == "futures" else parts[1:]
        try:
            return self._market_entries(path, market, rest)
        except (ValueError, UsageError):
            return _EMPTY

    def _market_entries(self, path: str, market: Market, rest: list[str]) -> Directory:
        u = self.universe
        if not rest:
            return Directory(["daily/", "monthly/"])
        cadence = Cadence(rest[0])
        if len(rest) == 1:
            names = []
            for spec in (get_dataset(n) for n in _dataset_names()):
                if (
                    market in spec.markets
                    and cadence in spec.cadences
                    and self._symbol_dirs(market, cadence, spec.name)
                ):
                    names.append(spec.name + "/")
            return Directory(names)
        dataset = rest[1]
        spec = get_dataset(dataset)
        if spec.name != dataset:
            return _EMPTY
        if len(rest) == 2:
            return Directory([s + "/" for s in self._symbol_dirs(market, cadence, dataset)])
        symbol = rest[2]
        if len(rest) == 3 and spec.has_interval:
            owners = u.pair_members(market, symbol) if spec.directory_is_pair else [u.symbol(market, symbol)]
            offered = {i for o in owners if o is not None for i in u.offer(market, o.symbol).get(dataset, ())}
            return Directory(
                [
                    i.value + "/"
                    for i in Interval
                    if i in offered and self._holds_files(self.directory(f"{path}{i.value}/"))
                ]
            )
        interval = Interval(rest[3]) if spec.has_interval and len(rest) == 4 else None
        if len(rest) != (4 if spec.has_interval else 3):
            return _EMPTY
        return self._files(market, cadence, dataset, symbol, interval)

    @staticmethod
    def _holds_files(directory: Directory) -> bool:
        return any(p is not None for p in directory.periods)

    def _files(
        self, market: Market, cadence: Cadence, dataset: str, symbol: str, interval: Interval | None
    ) -> Directory:
        """A directory of dataset files: each zip, then its `.CHECKSUM`."""
        template, periods = self.bucket.directory_periods(
            market, cadence, dataset, symbol, interval, self.now
        )
        if template is None:
            return _EMPTY
        names: list[str] = []
        dates: list[dt.date | None] = []
        if template.directory in QUIRK_DIRECTORIES:
            for period in periods:
                file = with_period(template, period)
                for key in self.bucket.iter_file_keys(file):
                    names.append(key.rsplit("/", 1)[1])
                    dates.append(period)
            return Directory(names, dates, template, quirky=True)
        head = f"{symbol}-{interval.value if interval is not None else dataset}-"
        daily = cadence is Cadence.DAILY
        for period in periods:
            name = f"{head}{period.isoformat() if daily else month_text(period)}.zip"
            names += (name, name + ".CHECKSUM")
            dates += (period, period)
        return Directory(names, dates, template)

    def _has_files(
        self, market: Market, cadence: Cadence, dataset: str, symbol: str, interval: Interval | None
    ) -> bool:
        """Whether a directory holds a published file, judged arithmetically from its first file."""
        window = self.bucket.window(market, dataset, symbol, interval)
        if window is None or cadence not in get_dataset(dataset).cadences:
            return False
        first = window[0] if cadence is Cadence.DAILY else window[0].replace(day=1)
        if cadence is Cadence.DAILY and interval is not None:
            if not has_daily_files(market, interval):
                return False
            while not is_daily_file_date(interval, first):
                first += dt.timedelta(days=1)
        if first > window[1]:
            return False
        probe = ArchiveFile(market, cadence, dataset, symbol, interval, first)
        return self.bucket.publish_time(probe) <= self.now

    def _symbol_dirs(self, market: Market, cadence: Cadence, dataset: str) -> list[str]:
        """Directory names holding at least one published file (checked on the first file, arithmetically)."""
        # Memoised like a directory (every dataset's is consulted to list the dataset names).
        key = (f"\x00symbols {market.value} {cadence.value} {dataset}", self.now)
        found = self._memo.get(key)
        if found is None:
            found = Directory(self._find_symbol_dirs(market, cadence, dataset))
            self._memo.put(key, found)
        return found.names

    def _find_symbol_dirs(self, market: Market, cadence: Cadence, dataset: str) -> list[str]:
        u = self.universe
        spec = get_dataset(dataset)
        names: set[str] = set()
        for sym in u.symbols(market):
            if dataset not in u.offer(market, sym.symbol):
                continue
            name = sym.pair if spec.directory_is_pair else sym.symbol
            if name in names:
                continue
            if any(
                self._has_files(market, cadence, dataset, name, i)
                for i in _intervals(u, market, name, dataset)
            ):
                names.add(name)
        return sorted(names)

    def iter_keys(self, path: str, after: str) -> Iterator[str]:
        """Every key under `path`, in order, strictly greater than `after`."""
        for item, _ in self.iter_items(path, after, rollup=False):
            yield item

    def iter_items(self, path: str, after: str, *, rollup: bool) -> Iterator[tuple[str, bool]]:
        """Keys under `path` greater than `after`, as (key, False); with `rollup`, the subdirectories
        directly under `path` come as (directory, True) without being walked (delimiter `/`)."""
        for item, is_directory, _, _ in self.walk(path, after, rollup=rollup):
            yield item, is_directory

    def walk(self, path: str, after: str, *, rollup: bool) -> Iterator[tuple[str, bool, Directory, int]]:
        """`iter_items`, each item with the directory holding it and its index there."""
        directory = self.directory(path)
        entries = directory.names
        start = 0
        if after.startswith(path):
            rel = after[len(path) :]
            start = bisect.bisect_right(entries, rel)
            if start > 0 and entries[start - 1].endswith("/") and rel.startswith(entries[start - 1]):
                start -= 1
                if rollup:
                    start += 1  # the rolled-up directory holding the marker was already returned
        elif after > path:
            return
        for index in range(start, len(entries)):
            name = entries[index]
            if name.endswith("/"):
                if rollup:
                    yield path + name, True, directory, index
                else:
                    yield from self.walk(path + name, after, rollup=False)
            elif (key := path + name) > after:
                yield key, False, directory, index

    def meta(self, key: str, directory: Directory, index: int) -> ObjectMeta | None:
        """The metadata of `key`, the `index`-th entry of `directory` (None: not there after all)."""
        period = directory.periods[index]
        if period is None or directory.template is None:
            return self.bucket.head(key, self.now)
        known = self._listers.get(id(directory))
        if known is None or known[0] is not directory:
            lister = self.bucket.lister(directory.template, self.now, quirky=directory.quirky)
            known = self._listers[id(directory)] = (directory, lister)
        return known[1](period, key)


def _dataset_names() -> tuple[str, ...]:
    from binance_lake.core.datasets import DATASETS

    return tuple(DATASETS)


def _intervals(u: Universe, market: Market, name: str, dataset: str) -> list[Interval | None]:
    """The intervals a directory's owners offer for `dataset` ([None] for datasets without one)."""
    spec = get_dataset(dataset)
    if not spec.has_interval:
        return [None]
    owners = u.pair_members(market, name) if spec.directory_is_pair else [u.symbol(market, name)]
    offered = {i for o in owners if o is not None for i in u.offer(market, o.symbol).get(dataset, ())}
    return [i for i in Interval if i in offered]


class Abandoned(Exception):
    """The client that asked for the page went away: stop computing it."""


def list_page(
    bucket: Bucket, request: ListRequest, now: dt.datetime, *, abandoned: Callable[[], bool] | None = None
) -> ListPage:
    """One page of the listing. `abandoned` is asked before each key's metadata (which may render the zip);
    when it says True the page raises `Abandoned` instead of finishing work nobody will read."""
    tree = Tree(bucket, now)
    prefix, delimiter = request.prefix, request.delimiter or None
    directory = prefix[: prefix.rfind("/") + 1]
    contents: list[ObjectMeta] = []
    prefixes: list[str] = []
    last: str | None = None
    truncated = False
    # With "/" the common prefixes are exactly the subdirectories of `directory` (it is the deepest
    # directory in the prefix), so they are returned without walking them.
    rollup = delimiter == "/"
    seen_prefix: str | None = None
    after = max(request.marker, _before(prefix))
    for item, is_directory, holder, index in tree.walk(directory, after, rollup=rollup):
        if not item.startswith(prefix):
            if item > prefix:
                break
            continue
        if is_directory and rollup and request.marker.startswith(item):
            continue
        common = item if is_directory else None
        if delimiter and not is_directory:
            cut = item.find(delimiter, len(prefix))
            if cut >= 0:
                common = item[: cut + len(delimiter)]
        if common is not None and (common == seen_prefix or common <= request.marker):
            continue
        if len(contents) + len(prefixes) >= request.max_keys:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            seen_prefix = common
            last = common
        else:
            if abandoned is not None and abandoned():
                raise Abandoned(request.prefix)
            meta = tree.meta(item, holder, index)
            if meta is not None:
                contents.append(meta)
            last = item
    return ListPage(contents, prefixes, truncated, last)


def _before(prefix: str) -> str:
    """A marker just below every key starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) - 1) + _AFTER_ALL if prefix else ""


def continuation_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise UsageError("the continuation token is not valid") from None


def _iso(moment: dt.datetime) -> str:
    """`%Y-%m-%dT%H:%M:%S.000Z` (S3 shows milliseconds; ours are always whole seconds)."""
    return moment.isoformat(timespec="seconds")[:19] + ".000Z"


def render_xml(request: ListRequest, page: ListPage) -> bytes:
    enc: Callable[[str], str] = (lambda s: escape(quote(s, safe="/"))) if request.url_encoding else escape
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    ]
    out.append(f"<Name>{BUCKET_NAME}</Name><Prefix>{enc(request.prefix)}</Prefix>")
    if request.v2:
        if request.start_after:
            out.append(f"<StartAfter>{enc(request.start_after)}</StartAfter>")
        if request.continuation_token:
            out.append(f"<ContinuationToken>{escape(request.continuation_token)}</ContinuationToken>")
        if page.truncated and page.last is not None:
            out.append(f"<NextContinuationToken>{continuation_token(page.last)}</NextContinuationToken>")
        out.append(f"<KeyCount>{len(page.contents) + len(page.common_prefixes)}</KeyCount>")
    else:
        out.append(f"<Marker>{enc(request.marker)}</Marker>")
        if page.truncated and request.delimiter and page.last is not None:
            out.append(f"<NextMarker>{enc(page.last)}</NextMarker>")
    out.append(f"<MaxKeys>{request.max_keys}</MaxKeys>")
    if request.delimiter:
        out.append(f"<Delimiter>{enc(request.delimiter)}</Delimiter>")
    if request.url_encoding:
        out.append("<EncodingType>url</EncodingType>")
    out.append(f"<IsTruncated>{'true' if page.truncated else 'false'}</IsTruncated>")
    stamp: tuple[dt.datetime | None, str] = (None, "")  # a zip and its .CHECKSUM mostly share it
    for meta in page.contents:
        if meta.last_modified != stamp[0]:
            stamp = (meta.last_modified, _iso(meta.last_modified))
        out.append(
            f"<Contents><Key>{enc(meta.key)}</Key><LastModified>{stamp[1]}</LastModified>"
            f"<ETag>&quot;{meta.etag}&quot;</ETag><Size>{meta.size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for prefix in page.common_prefixes:
        out.append(f"<CommonPrefixes><Prefix>{enc(prefix)}</Prefix></CommonPrefixes>")
    out.append("</ListBucketResult>")
    return "".join(out).encode()


__all__ = ["Abandoned", "ListPage", "ListRequest", "Tree", "list_page", "render_xml", "served_key"]
