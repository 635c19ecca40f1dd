"""Seed 001's availability reports as files: `<market>_earliest_dates.csv`, `spot_um_usdt_filtered.csv`,
`spot_synchronal.csv` and `consolidated_base_symbols.csv`, with the seed's names and columns.

The numbers are the catalog's (`queries.earliest` over the klines files); this module only shapes them as the
seed's `fetch_binance_data_availability.sh` did:

- `<market>_earliest_dates.csv`: `market,symbol,earliest_date,available_intervals`, every symbol of the market;
  intervals in Binance's order (`1s,1m,3m,…`), quoted since they hold commas.
- `spot_um_usdt_filtered.csv`: the spot USDT pairs whose base asset also has a um USDT perpetual, and
  `spot_synchronal.csv` those that also have a cm `USD_PERP`, each with the columns above plus `base_symbol`,
  sorted by earliest date. As in the seed, only symbols with a file in the `RECENT_DAYS` up to their market's
  newest day count (a delisted pair is no shortlist candidate).
- `consolidated_base_symbols.csv`: one row per base asset of those three sets: its symbol, earliest date and
  intervals in each market, and `markets`, the markets it trades in.

A report only needs the markets it reads: without cm there is no `spot_synchronal.csv`, without spot or um no
filtered lists. The files are written whole to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from binance_lake.catalog import queries
from binance_lake.core.errors import StorageError
from binance_lake.core.vocabulary import Interval, Market
from binance_lake.storage.database import Connection

RECENT_DAYS = 5
"""A filtered list takes a symbol only with data in the last days of its market (the seed's NO_RECENT_DATA)."""

REPORT_MARKETS = (Market.SPOT, Market.UM, Market.CM)
EARLIEST_COLUMNS = ("market", "symbol", "earliest_date", "available_intervals")
FILTERED_COLUMNS = (*EARLIEST_COLUMNS, "base_symbol")
CONSOLIDATED_COLUMNS = (
    "base_symbol",
    *(f"{m}_{c}" for m in ("spot", "um", "cm") for c in ("symbol", "earliest_date", "available_intervals")),
    "markets",
)
_ORDER = {interval.value: index for index, interval in enumerate(Interval)}
# um contracts of cheap coins carry a multiplier (`1000SHIBUSDT`, `1MBABYDOGEUSDT`; reference §1.4), the same
# rule as `queries.synchronal`.
_MULTIPLIER = re.compile(r"^(1000000|100000|10000|1000|100|1M)(?=[A-Z])")


@dataclass(frozen=True)
class SymbolRow:
    market: str
    symbol: str
    earliest_date: dt.date
    latest_date: dt.date
    intervals: tuple[str, ...]

    def cells(self) -> list[str]:
        return [self.market, self.symbol, self.earliest_date.isoformat(), ",".join(self.intervals)]


@dataclass(frozen=True)
class Report:
    """One file of the report: its name, header and rows (cells as text)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ReportFile:
    """A report file written: where, and how many rows (header not counted)."""

    path: Path
    rows: int


def base_asset(market: str, symbol: str) -> str | None:
    """The base asset of a spot USDT pair, a um USDT perpetual (multiplier dropped) or a cm USD perpetual;
    None for every other symbol (other quotes, delivery contracts, settled series)."""
    if market == Market.SPOT and symbol.endswith("USDT") and len(symbol) > 4:
        return symbol[:-4]
    if market == Market.UM and re.fullmatch(r"[A-Z0-9]+USDT", symbol) and len(symbol) > 4:
        return _MULTIPLIER.sub("", symbol[:-4])
    if market == Market.CM and symbol.endswith("USD_PERP") and len(symbol) > 8:
        return symbol[:-8]
    return None


def market_rows(connection: Connection, market: Market) -> list[SymbolRow]:
    """Every klines symbol of `market` with its earliest and latest day and its intervals."""
    table = queries.earliest(connection, queries.Filters(market=market.value, dataset="klines"))
    return [
        SymbolRow(
            market=row["market"],
            symbol=row["symbol"],
            earliest_date=row["earliest_date"],
            latest_date=row["latest_date"],
            intervals=tuple(sorted((row["intervals"] or "").split(","), key=lambda i: _ORDER.get(i, 99))),
        )
        for row in table.to_pylist()
    ]


def _recent(rows: list[SymbolRow]) -> dict[str, SymbolRow]:
    """Base asset -> row, for the rows with a base asset and a file in the market's last `RECENT_DAYS`; the
    earliest symbol wins when two share a base (`1000SHIBUSDT` and `SHIBUSDT` are rare but possible)."""
    if not rows:
        return {}
    newest = max(r.latest_date for r in rows)
    chosen: dict[str, SymbolRow] = {}
    for row in sorted(rows, key=lambda r: (r.earliest_date, r.symbol)):
        base = base_asset(row.market, row.symbol)
        if (
            base is not None
            and row.latest_date > newest - dt.timedelta(days=RECENT_DAYS)
            and base not in chosen
        ):
            chosen[base] = row
    return chosen


def _filtered(name: str, spot: dict[str, SymbolRow], bases: Iterable[str]) -> Report:
    rows = sorted((spot[b] for b in bases), key=lambda r: (r.earliest_date, r.symbol))
    return Report(
        name, FILTERED_COLUMNS, tuple((*r.cells(), base_asset(r.market, r.symbol) or "") for r in rows)
    )


def build_reports(connection: Connection, markets: Sequence[Market] = REPORT_MARKETS) -> list[Report]:
    """The seed's files for `markets` (see the module docstring), from the catalog as it is."""
    per_market = {m: market_rows(connection, m) for m in markets}
    reports = [
        Report(f"{m.value}_earliest_dates.csv", EARLIEST_COLUMNS, tuple(tuple(r.cells()) for r in rows))
        for m, rows in per_market.items()
    ]
    recent = {m: _recent(rows) for m, rows in per_market.items()}
    spot, um, cm = (recent.get(m, {}) for m in REPORT_MARKETS)
    if Market.SPOT in recent and Market.UM in recent:
        reports.append(_filtered("spot_um_usdt_filtered.csv", spot, spot.keys() & um.keys()))
        if Market.CM in recent:
            reports.append(_filtered("spot_synchronal.csv", spot, spot.keys() & um.keys() & cm.keys()))
    consolidated = []
    for base in sorted(set().union(*(r.keys() for r in recent.values()))):
        cells: list[str] = [base]
        traded = []
        for market, held in zip(REPORT_MARKETS, (spot, um, cm), strict=True):
            row = held.get(base)
            cells += (
                [row.symbol, row.earliest_date.isoformat(), ",".join(row.intervals)] if row else ["", "", ""]
            )
            if row:
                traded.append(market.value)
        consolidated.append((*cells, ",".join(traded)))
    reports.append(Report("consolidated_base_symbols.csv", CONSOLIDATED_COLUMNS, tuple(consolidated)))
    return reports


def write_reports(reports: list[Report], out: Path) -> list[ReportFile]:
    """Write each report as `out/<name>` (the directory is created); one sentence when `out` cannot be."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for report in reports:
            path = out / report.name
            partial = path.with_name(f".{report.name}.partial")
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(report.columns)
                writer.writerows(report.rows)
            partial.replace(path)
            written.append(ReportFile(path, len(report.rows)))
        return written
    except OSError as error:
        raise StorageError(f"cannot write the reports to {out}: {error.strerror or error}") from None
