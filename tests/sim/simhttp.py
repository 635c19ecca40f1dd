"""A tiny synchronous HTTP helper for simulator tests (stdlib only, every response closed)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


def raw_get(host: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET that tolerates a body cut short (returns what arrived)."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        try:
            body = response.read()
        except http.client.IncompleteRead as error:
            body = error.partial
        except ConnectionResetError:
            body = b""
        return response.status, dict(response.getheaders()), body
    finally:
        connection.close()


def list_xml(listing_url: str, **params: str | int) -> ET.Element:
    query = urlencode({k.replace("_", "-"): v for k, v in params.items()})
    reply = fetch(f"{listing_url}?{query}")
    assert reply.status == 200, reply.body[:300]
    return ET.fromstring(reply.body)


def page_items(root: ET.Element) -> tuple[list[str], list[str]]:
    keys = [e.text or "" for e in root.iter(f"{S3}Key")]
    prefixes = [e.text or "" for p in root.iter(f"{S3}CommonPrefixes") for e in p.iter(f"{S3}Prefix")]
    return keys, prefixes


def text(root: ET.Element, name: str) -> str | None:
    found = root.find(f"{S3}{name}")
    return None if found is None else (found.text or "")


def list_all(listing_url: str, *, v2: bool = False, **params: str | int) -> tuple[list[str], list[str], int]:
    """Follow pagination to the end: (keys, common prefixes, pages)."""
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    cursor: dict[str, str | int] = {}
    while True:
        extra: dict[str, str | int] = {"list_type": 2} if v2 else {}
        root = list_xml(listing_url, **params, **extra, **cursor)
        pages += 1
        page_keys, page_prefixes = page_items(root)
        keys += page_keys
        prefixes += page_prefixes
        if text(root, "IsTruncated") != "true":
            return keys, prefixes, pages
        if v2:
            cursor = {"continuation_token": text(root, "NextContinuationToken") or ""}
        else:
            next_marker = text(root, "NextMarker")
            if "delimiter" in params:
                assert next_marker
            else:
                assert next_marker is None
            cursor = {"marker": next_marker or page_keys[-1]}
