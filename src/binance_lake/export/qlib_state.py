"""What a Qlib export wrote, kept beside it so the next export appends instead of rewriting.

One JSON file per freq, `<QLIB_DIR>/.binance-lake/qlib-<freq>.json` (Qlib ignores it): the options that
shape the files (market, prefix, source interval), the calendar's first bar and length, and per symbol its
instrument name, first and last bar and the fingerprint of the lake days it was built from
(`storage.provenance.day_fingerprints`: which days, their rows, when each was written). It is written last,
atomically, after the bins and the calendar: a crash before that leaves the previous manifest, and the next
export repairs what the crash left (a calendar is cut back to the recorded length; a `.bin` whose size differs
from the record is rewritten).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from binance_lake.core.errors import StorageError
from binance_lake.export.qlib_format import Freq, Span
from binance_lake.export.sink import write_atomic

VERSION = 1
STATE_DIR = ".binance-lake"


@dataclass
class Exported:
    """One symbol as the export left it: its instrument name, first and last bar, the lake's fingerprint."""

    name: str
    first: dt.datetime
    last: dt.datetime
    fingerprint: str

    @property
    def span(self) -> Span:
        return Span(self.first, self.last)


@dataclass
class Manifest:
    freq: Freq
    market: str
    prefix: str
    source: str
    calendar_first: dt.datetime | None = None
    calendar_count: int = 0
    symbols: dict[str, Exported] = field(default_factory=dict)

    def to_json(self) -> str:
        def exported(e: Exported) -> dict[str, str]:
            return {**asdict(e), "first": e.first.isoformat(), "last": e.last.isoformat()}

        body: dict[str, Any] = {
            "version": VERSION,
            "freq": self.freq.value,
            "market": self.market,
            "prefix": self.prefix,
            "source": self.source,
            "calendar_first": self.calendar_first.isoformat() if self.calendar_first else None,
            "calendar_count": self.calendar_count,
            "symbols": {s: exported(e) for s, e in sorted(self.symbols.items())},
        }
        return json.dumps(body, indent=1)


def manifest_path(out: Path, freq: Freq) -> Path:
    return out / STATE_DIR / f"qlib-{freq.value}.json"


def read_manifest(out: Path, freq: Freq) -> Manifest | None:
    path = manifest_path(out, freq)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text())
        if body.get("version") != VERSION:
            raise StorageError(f"{path} was written by another binance-lake version; export to a new --out")
        first = body["calendar_first"]
        return Manifest(
            freq=Freq(body["freq"]),
            market=body["market"],
            prefix=body["prefix"],
            source=body["source"],
            calendar_first=dt.datetime.fromisoformat(first) if first else None,
            calendar_count=int(body["calendar_count"]),
            symbols={
                s: Exported(
                    e["name"],
                    dt.datetime.fromisoformat(e["first"]),
                    dt.datetime.fromisoformat(e["last"]),
                    e["fingerprint"],
                )
                for s, e in body["symbols"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StorageError(f"cannot read the export record {path}: {error}; export to a new --out") from None


def write_manifest(out: Path, manifest: Manifest) -> None:
    write_atomic(manifest_path(out, manifest.freq), manifest.to_json().encode())


def all_manifests(out: Path) -> list[Manifest]:
    return [m for f in Freq if (m := read_manifest(out, f)) is not None]
