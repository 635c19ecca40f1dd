"""S3 ListObjects (v1 and v2) over the simulated bucket, shaped like the captures in reference §3.3.

The bucket is walked as a lazy tree: each directory's sorted entry names are computed on demand (and
memoised for one request), the marker is found by binary search at every level, and a common prefix skips
its whole subtree. So listing the large universe never materialises more than one page of keys.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from binance_lake.core.archive import ArchiveFile
from binance_lake.core.datasets import get_dataset
from binance_lake.core.errors import UsageError
from binance_lake.core.vocabulary import Cadence, Interval, Market, has_daily_files, is_daily_file_date
from binance_lake.sim import placement
from binance_lake.sim.bucket import Bucket, ObjectMeta, served_key
from binance_lake.sim.universe import Universe

BUCKET_NAME = "data.binance.vision"
MAX_KEYS = 1000
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


class Tree:
    """Sorted directory entries of the bucket at one instant (`name/` for subdirectories)."""

    def __init__(self, bucket: Bucket, now: dt.datetime) -> None:
        self.bucket = bucket
        self.universe = bucket.universe
        self.now = now
        self._memo: dict[str, list[str]] = {}

    def entries(self, path: str) -> list[str]:
        found = self._memo.get(path)
        if found is None:
            found = sorted(set(self._entries(path)) | set(self._extras(path)))
            self._memo[path] = found
        return found

    @staticmethod
    def _extras(path: str) -> Iterator[str]:
        for key in placement.NON_DATASET_OBJECTS:
            if key.startswith(path):
                rest = key[len(path) :]
                cut = rest.find("/")
                yield rest if cut < 0 else rest[: cut + 1]

    def _entries(self, path: str) -> list[str]:
        if path == "":
            return ["data/"]
        if not path.startswith("data/"):
            return []
        parts = path[len("data/") : -1].split("/") if path != "data/" else []
        if not parts:
            return ["futures/", "option/", "spot/"]
        if parts == ["futures"]:
            return ["cm/", "um/"]
        head = "/".join(parts[:2]) if parts[0] == "futures" else parts[0]
        market = _MARKET_DIRS.get(head)
        if market is None:
            return []
        rest = parts[2:] if parts[0] == "futures" else parts[1:]
        try:
            return self._market_entries(market, rest)
        except (ValueError, UsageError):
            return []

    def _market_entries(self, market: Market, rest: list[str]) -> list[str]:
        u = self.universe
        if not rest:
            return ["daily/", "monthly/"]
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
            return names
        dataset = rest[1]
        spec = get_dataset(dataset)
        if spec.name != dataset:
            return []
        if len(rest) == 2:
            return [s + "/" for s in self._symbol_dirs(market, cadence, dataset)]
        symbol = rest[2]
        if len(rest) == 3 and spec.has_interval:
            owners = u.pair_members(market, symbol) if spec.directory_is_pair else [u.symbol(market, symbol)]
            offered = {i for o in owners if o is not None for i in u.offer(market, o.symbol).get(dataset, ())}
            return [
                i.value + "/"
                for i in Interval
                if i in offered and self._files(market, cadence, dataset, symbol, i)
            ]
        interval = Interval(rest[3]) if spec.has_interval and len(rest) == 4 else None
        if len(rest) != (4 if spec.has_interval else 3):
            return []
        keys: list[str] = []
        for file in self._files(market, cadence, dataset, symbol, interval):
            keys.extend(k.rsplit("/", 1)[1] for k in self.bucket.iter_file_keys(file))
        return keys

    def _files(
        self, market: Market, cadence: Cadence, dataset: str, symbol: str, interval: Interval | None
    ) -> list[ArchiveFile]:
        return self.bucket.periods(market, cadence, dataset, symbol, interval, self.now)

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
        entries = self.entries(path)
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
        for name in entries[start:]:
            if name.endswith("/"):
                if rollup:
                    yield path + name, True
                else:
                    yield from self.iter_items(path + name, after, rollup=False)
            elif path + name > after:
                yield path + name, False


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


def list_page(bucket: Bucket, request: ListRequest, now: dt.datetime) -> ListPage:
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
    for item, is_directory in tree.iter_items(directory, after, rollup=rollup):
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
            meta = bucket.head(item, now)
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
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


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
    for meta in page.contents:
        out.append(
            f"<Contents><Key>{enc(meta.key)}</Key><LastModified>{_iso(meta.last_modified)}</LastModified>"
            f"<ETag>&quot;{meta.etag}&quot;</ETag><Size>{meta.size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for prefix in page.common_prefixes:
        out.append(f"<CommonPrefixes><Prefix>{enc(prefix)}</Prefix></CommonPrefixes>")
    out.append("</ListBucketResult>")
    return "".join(out).encode()


__all__ = ["ListPage", "ListRequest", "Tree", "list_page", "render_xml", "served_key"]
