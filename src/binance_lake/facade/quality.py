"""`Lake.check`, `Lake.gaps`, `Lake.health` and `Lake.report`: the quality stage's method group.

Each builds the stage's request, hands it what the catalog knows (read here through catalog/reads.py, which
quality/ cannot import), runs it and delivers. `check` takes no writer lock: it reads, so a sync can run
beside it, and records its run in one short write of the quality tables, which nothing else writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from binance_lake.catalog.reads import listed_table, symbol_lives, upstream_table
from binance_lake.catalog.store import ensure_catalog
from binance_lake.core.errors import UsageError
from binance_lake.core.timerange import DateLike
from binance_lake.facade.base import LakeBase
from binance_lake.facade.existing import require_lake
from binance_lake.facade.frames import Frame, convert
from binance_lake.facade.rest_probe import RestKlinesProbe
from binance_lake.quality.gaps import RestProbe
from binance_lake.quality.health import Health, assess
from binance_lake.quality.report import write_report
from binance_lake.quality.rules import resolve_rules
from binance_lake.quality.run import CatalogFacts, CheckReport, build_check_request, run_check
from binance_lake.quality.store import gaps_of


def _symbols(lake: LakeBase, symbols: str | Iterable[str] | None) -> list[str]:
    if symbols is None:
        return []
    text = symbols if isinstance(symbols, str) else ",".join(symbols)
    return lake.settings.expand_symbols(text)


class QualityMethods(LakeBase):
    """`check`, `gaps`, `health`, `report` (see the module docstring)."""

    def check(
        self,
        *,
        market: str | None = None,
        datasets: str | Iterable[str] | None = None,
        symbols: str | Iterable[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        deep: bool = False,
        full: bool = False,
        now: dt.datetime | None = None,
        probe: RestProbe | bool | None = None,
    ) -> CheckReport:
        """Check what the lake holds: integrity, the quality rules, gaps classified; recorded as one run.

        Incremental by default: a series whose partitions, held days and rules are as an earlier check saw
        them (and whose files keep their recorded size and mtime) has that check's answers carried forward;
        `full` scans every series again; `deep` (implies `full`) reads every page of every partition and
        parses the kept raw zips again. `now` (default: the clock) decides freshness and the publication
        lag. `probe=True` asks Binance's REST whether it has the bars of the `upstream` and `missing-file` gaps
        (`facade.rest_probe.RestKlinesProbe`, under the REST weight budget); any other `RestProbe` may be given."""
        require_lake(self.database)
        if self.settings.storage.url is not None:
            # Its scans read files under the root; an object-storage lake's partitions are objects
            # (storage/objects.py). Refused rather than report every partition as gone.
            raise UsageError(
                f"check does not read a lake on object storage ({self.settings.storage.url}) yet"
            )
        request = build_check_request(
            market=market,
            datasets=datasets if isinstance(datasets, str) or datasets is None else list(datasets),
            symbols=_symbols(self, symbols),
            start=start,
            end=end,
            deep=deep,
            full=full,
        )
        rules = resolve_rules(self.settings.quality)
        ensure_catalog(self.database)
        with self.database.connect(read_only=True) as connection:
            facts = CatalogFacts(
                upstream_table(connection), symbol_lives(connection), listed_table(connection)
            )
        asked = RestKlinesProbe(self.settings) if probe is True else (probe or None)
        return run_check(self.database, request, rules, facts, now=now, probe=asked)

    def gaps(
        self,
        *,
        symbols: str | Iterable[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        kind: str | Iterable[str] | None = None,
        as_: Frame = "pandas",
    ) -> Any:
        """The gaps the last `check` classified (one row per run of missing days or bars), filtered."""
        require_lake(self.database)
        kinds = [kind] if isinstance(kind, str) else list(kind or ())
        table = gaps_of(self.database, symbols=_symbols(self, symbols), start=start, end=end, kinds=kinds)
        return convert(table, as_)

    def health(
        self, *, max_age: dt.timedelta = dt.timedelta(days=2), now: dt.datetime | None = None
    ) -> Health:
        """Freshness and failures, and the `[alerts]` thresholds of the settings: `Health.code` is 0 healthy,
        1 degraded, 2 failing."""
        return assess(self.database, max_age=max_age, now=now, alerts=self.settings.alerts)

    def report(self, out: str | Path, *, symbols: str | Iterable[str] | None = None,
               start: DateLike | None = None, end: DateLike | None = None) -> Path:  # fmt: skip
        """Write the self-contained HTML report of the last `check` and the lake's coverage to `out`."""
        require_lake(self.database)
        return write_report(self.database, Path(out), symbols=_symbols(self, symbols), start=start, end=end)
