"""S3 ListObjects (v1 and v2) for the archive bucket: build the request URL, parse one page of XML, and
say where the next page starts.

Pure: no I/O. Shapes and rules are in reference/binance-formats.md §3: the site lists with v1
(`?delimiter=/&prefix=…&marker=…`), pages hold at most 1000 keys plus common prefixes, and `NextMarker` is
sent only when a delimiter was given — otherwise the next page starts after the last key (AWS
ListObjectsOutput docs). The echoed top-level `<Prefix>` is the request's prefix, not a directory: only
`CommonPrefixes/Prefix` children are directories (the trap of §3.3).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, urlencode

from binance_lake.core.errors import ServerError

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
"""S3's page size: the default and the maximum of `max-keys`."""


@dataclass(frozen=True)
class ListedObject:
    """One `<Contents>` entry: an object key with its size, ETag (unquoted) and upload time (UTC)."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime


@dataclass(frozen=True)
class ListingPage:
    """One page of a listing. `prefixes` are the `CommonPrefixes` ("directories") when a delimiter was sent."""

    objects: tuple[ListedObject, ...]
    prefixes: tuple[str, ...]
    is_truncated: bool
    next_marker: str | None = None
    next_continuation_token: str | None = None


def listing_url(
    listing_url: str,
    prefix: str,
    *,
    delimiter: str | None = "/",
    marker: str | None = None,
    max_keys: int = MAX_KEYS,
) -> str:
    """The v1 ListObjects URL, fully percent-encoded (`+` and `/` in a marker are escaped too).

    Parameters come in the order the site's list.js sends them: delimiter, prefix, marker, then max-keys.
    """
    if not 1 <= max_keys <= MAX_KEYS:
        raise ValueError(f"max_keys must be in 1..{MAX_KEYS}, not {max_keys}")
    params: list[tuple[str, str]] = []
    if delimiter is not None:
        params.append(("delimiter", delimiter))
    params.append(("prefix", prefix))
    if marker is not None:
        params.append(("marker", marker))
    params.append(("max-keys", str(max_keys)))
    # `safe=""` makes this encodeURIComponent, as list.js does for the marker; S3 decodes either form.
    return listing_url.rstrip("/") + "?" + urlencode(params, quote_via=quote, safe="")


def next_marker(page: ListingPage) -> str | None:
    """Where the next v1 page starts, or None when this page is the last one.

    The AWS rule: `NextMarker` when the server sent it (only with a delimiter), otherwise the greatest key
    or common prefix on the page (keys come in UTF-8 binary order, which is str order in Python).
    """
    if not page.is_truncated:
        return None
    if page.next_marker:
        return page.next_marker
    candidates = [o.key for o in page.objects[-1:]] + list(page.prefixes[-1:])
    return max(candidates) if candidates else None


def unquote_etag(value: str) -> str:
    """`"4c65…3c"` (or weak `W/"…"`, or bare) -> `4c65…3c`."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


def _local(tag: str) -> tuple[str | None, str]:
    """Split `{namespace}Name` into (namespace, Name)."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


class _Page:
    """Child lookups by local name within the S3 namespace (or no namespace, as some mirrors answer)."""

    def __init__(self, root: ET.Element, namespace: str | None, url: str) -> None:
        self.root = root
        self.namespace = namespace
        self.url = url

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}" if self.namespace else name

    def children(self, parent: ET.Element, name: str) -> list[ET.Element]:
        return parent.findall(self.tag(name))

    def text(self, parent: ET.Element, name: str) -> str | None:
        child = parent.find(self.tag(name))
        if child is None:
            return None
        return child.text or ""

    def required(self, parent: ET.Element, name: str) -> str:
        value = self.text(parent, name)
        if value is None:
            raise _malformed(self.url, f"an entry has no <{name}>")
        return value


def _malformed(url: str, why: str) -> ServerError:
    return ServerError(f"the listing from {url} is not a valid S3 ListBucketResult: {why}", url=url)


def _parse_time(text: str, url: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _malformed(url, f"LastModified {text!r} is not an ISO time") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _parse_object(page: _Page, entry: ET.Element, decode: bool) -> ListedObject:
    key = page.required(entry, "Key")
    size_text = page.required(entry, "Size")
    try:
        size = int(size_text)
    except ValueError:
        raise _malformed(page.url, f"Size {size_text!r} of {key!r} is not an integer") from None
    return ListedObject(
        key=unquote_plus(key) if decode else key,
        size=size,
        etag=unquote_etag(page.text(entry, "ETag") or ""),
        last_modified=_parse_time(page.required(entry, "LastModified"), page.url),
    )


def _root(xml: bytes, url: str) -> tuple[ET.Element, str | None]:
    # S3 never sends a DTD; refusing one keeps entity expansion out of the parser entirely.
    if b"<!DOCTYPE" in xml[:4096] or b"<!ENTITY" in xml:
        raise _malformed(url, "it declares a DTD")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise _malformed(url, f"malformed XML ({error})") from None
    namespace, name = _local(root.tag)
    if name == "Error":
        code = root.findtext(f"{{{namespace}}}Code" if namespace else "Code") or "unknown"
        raise ServerError(f"the listing from {url} is an S3 error document ({code})", url=url)
    if name != "ListBucketResult" or namespace not in (S3_NAMESPACE, None):
        raise _malformed(url, f"its root element is <{name}>")
    return root, namespace


def parse_listing(xml: bytes, *, url: str = "the listing endpoint") -> ListingPage:
    """Parse one ListObjects (v1) or ListObjectsV2 page. Malformed XML -> `ServerError` naming `url`.

    With `<EncodingType>url</EncodingType>` keys, prefixes and markers arrive URL-encoded and are decoded
    (as botocore does, `+` is a space).
    """
    root, namespace = _root(xml, url)
    page = _Page(root, namespace, url)
    decode = (page.text(root, "EncodingType") or "").strip().lower() == "url"

    def decoded(value: str | None) -> str | None:
        return unquote_plus(value) if decode and value is not None else value

    objects = tuple(_parse_object(page, entry, decode) for entry in page.children(root, "Contents"))
    prefixes: list[str] = []
    for group in page.children(root, "CommonPrefixes"):
        # Only the direct children of CommonPrefixes: the top-level <Prefix> echoes the request (§3.3).
        prefixes.extend(decoded(p.text or "") or "" for p in page.children(group, "Prefix"))
    truncated_text = (page.text(root, "IsTruncated") or "false").strip().lower()
    if truncated_text not in ("true", "false"):
        raise _malformed(url, f"IsTruncated is {truncated_text!r}")
    return ListingPage(
        objects=objects,
        prefixes=tuple(prefixes),
        is_truncated=truncated_text == "true",
        next_marker=decoded(page.text(root, "NextMarker")) or None,
        next_continuation_token=page.text(root, "NextContinuationToken") or None,
    )
