"""The quality rules as data: one row per rule with its dataset family, threshold and the SQL that finds its
violations, and the thresholds users set in `binance-lake.toml`'s `[quality]` table.

Pure (no database): `quality/scan.py` answers every rule of a series' families in ONE pass over the series'
Parquet files: each rule is a condition over one row (`when`: the partition's columns, plus `symbol`, `market`,
`ts` = the dataset's time column, `day` = its UTC day, and `prev_*` = the previous row's values in time and key
order per symbol, `prev_day` among them) and a `measure`; per (symbol, day) the scan counts the rows that break
it (`n`) and keeps the worst measure (`value`). `{threshold}` in them is the rule's threshold, `{same_key}` the
condition "this row repeats the previous row's key".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from binance_lake.core import quirks
from binance_lake.core.errors import UsageError


class Family(StrEnum):
    """Datasets checked by the same rules."""

    BARS = "bars"  # klines and the price-kline datasets (an interval grid)
    PRICES = "prices"  # bars of a price (not the premium index, which hovers around zero)
    KLINES = "klines"  # klines only (volume columns mean something)
    AGG_TRADES = "aggTrades"
    TRADES = "trades"
    METRICS = "metrics"
    FUNDING = "fundingRate"
    ANY = "any"


_BARS = frozenset({"klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"})


def families_of(dataset: str) -> frozenset[Family]:
    """The families whose rules apply to `dataset`."""
    found = {Family.ANY}
    if dataset in _BARS:
        found.add(Family.BARS)
        if dataset != "premiumIndexKlines":
            found.add(Family.PRICES)
    if dataset == "klines":
        found.add(Family.KLINES)
    for family in (Family.AGG_TRADES, Family.TRADES, Family.METRICS, Family.FUNDING):
        if dataset == family.value:
            found.add(family)
    return frozenset(found)


class Severity(StrEnum):
    ERROR = "error"  # the lake does not hold what it claims (integrity)
    WARNING = "warning"  # the data breaks a rule
    INFO = "info"  # a noted fact, not a defect (e.g. a funding interval switch)


@dataclass(frozen=True)
class Rule:
    name: str
    family: Family
    threshold: float
    severity: Severity
    description: str
    # A row breaks the rule when `when` holds (SQL over one row of the scan, `prev_*` its predecessor's
    # values); `measure` is the value whose worst (max) a finding reports. Empty `when`: computed outside the
    # per-series query (gaps, freshness, raw-file scans).
    when: str = ""
    measure: str = "NULL"


# Columns that must never be NULL, per family (CM metrics leave the trader ratios blank by design).
_KEY_COLUMNS: Mapping[Family, tuple[str, ...]] = {
    Family.BARS: ("open", "high", "low", "close"),
    Family.AGG_TRADES: ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id"),
    Family.TRADES: ("id", "price", "qty"),
    Family.METRICS: ("sum_open_interest",),
    Family.FUNDING: ("last_funding_rate", "funding_interval_hours"),
}


def _nulls(columns: tuple[str, ...]) -> str:
    return " OR ".join(["ts IS NULL", *(f'"{c}" IS NULL' for c in columns)])


# The id rules: ids never step back or repeat; within a day, and from one day to the next held day, each id
# follows the previous one (Binance numbers a symbol's trades without holes across files; a hole across a day
# boundary is a lost file tail or head that the day's row count alone would not show).
_NEXT_DAY = "(day = prev_day OR day = prev_day + 1)"

RULES: tuple[Rule, ...] = (
    Rule("nulls", Family.ANY, 0, Severity.WARNING, "rows with a NULL time or key value", when=_nulls(())),
    *(
        Rule(f"nulls_{family.value}", family, 0, Severity.WARNING, f"NULL in {', '.join(columns)}",
             when=_nulls(columns))
        for family, columns in _KEY_COLUMNS.items()
    ),
    Rule("duplicates", Family.ANY, 0, Severity.WARNING,
         "rows sharing the time key (the dataset's unique key) within a symbol", when="{same_key}"),
    Rule("ohlc", Family.BARS, 0, Severity.WARNING, "low <= open, close <= high",
         when="NOT (low <= least(open, close) AND high >= greatest(open, close))"),
    Rule("volume", Family.KLINES, 1e-9, Severity.WARNING, "volume >= 0 and taker-buy volume <= volume",
         when="volume < 0 OR taker_buy_volume > volume * (1 + {threshold}) + {threshold}"),
    Rule("quote_volume", Family.KLINES, 0.01, Severity.WARNING,
         "quote volume within volume x [low, high] (relative tolerance; not CM, whose column is base volume)",
         when="market <> 'cm' AND volume > 0 AND (quote_volume < volume * low * (1 - {threshold}) "
         "OR quote_volume > volume * high * (1 + {threshold}))"),
    Rule("outlier_move", Family.PRICES, 0.10, Severity.WARNING,
         "bar-to-bar close move above the threshold (relative)",
         when="prev_close > 0 AND abs(close / prev_close - 1) > {threshold}",
         measure="abs(close / prev_close - 1)"),
    Rule("funding_cap", Family.FUNDING, 0.03, Severity.WARNING, "funding rate beyond the cap (absolute)",
         when="abs(last_funding_rate) > {threshold}", measure="abs(last_funding_rate)"),
    Rule("funding_interval", Family.FUNDING, 0, Severity.INFO,
         "the funding interval changed (e.g. 8 h -> 4 h): recorded, not a defect",
         when="prev_funding_interval_hours IS NOT NULL AND funding_interval_hours <> prev_funding_interval_hours",
         measure="funding_interval_hours"),
    Rule("agg_id_continuity", Family.AGG_TRADES, 0, Severity.WARNING,
         "agg_trade_id and first/last_trade_id: no overlaps, no holes within a day or across consecutive days",
         when="prev_agg_trade_id IS NOT NULL AND (agg_trade_id <= prev_agg_trade_id "
         f"OR first_trade_id <= prev_last_trade_id OR ({_NEXT_DAY} AND (agg_trade_id <> prev_agg_trade_id + 1 "
         "OR first_trade_id <> prev_last_trade_id + 1)))",
         measure="abs(agg_trade_id - prev_agg_trade_id - 1)"),
    Rule("trade_id_continuity", Family.TRADES, 0, Severity.WARNING,
         "trade ids: no overlaps, no holes within a day or across consecutive days",
         when=f"prev_id IS NOT NULL AND (id <= prev_id OR ({_NEXT_DAY} AND id <> prev_id + 1))",
         measure="abs(id - prev_id - 1)"),
    Rule(
        "day_rows_low",
        Family.ANY,
        quirks.TRUNCATED_DAY_SHARE,
        Severity.WARNING,
        "a day's rows below this fraction of its expectation (the interval grid, or the series' median day): "
        "a truncated upstream file even though its checksum matched",
    ),
    Rule("mark_divergence", Family.KLINES, 0.05, Severity.WARNING,
         "mark-price close vs last-price close further apart than the threshold (relative; needs both series)"),
    Rule("continuity", Family.BARS, 0, Severity.INFO, "bars missing on the interval grid (see `gaps`)"),
    Rule("freshness", Family.ANY, 2, Severity.WARNING, "newest day older than this many days (open-ended checks)"),
    Rule("raw_duplicates", Family.ANY, 0, Severity.WARNING, "(--deep) the kept upstream file repeats rows"),
    Rule("raw_unordered", Family.ANY, 0, Severity.WARNING, "(--deep) the kept upstream file's rows are out of order"),
)  # fmt: skip


def resolve_rules(overrides: Mapping[str, float]) -> tuple[Rule, ...]:
    """The rules with thresholds from `[quality]` (rule name = number); an unknown name is one sentence."""
    known = {r.name for r in RULES}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(
            f"unknown quality rule {', '.join(unknown)} in [quality] (known: {', '.join(sorted(known))})"
        )
    return tuple(
        dataclasses.replace(r, threshold=float(overrides[r.name])) if r.name in overrides else r
        for r in RULES
    )


def rule_named(rules: tuple[Rule, ...], name: str) -> Rule:
    return next(r for r in rules if r.name == name)


def rules_table(rules: tuple[Rule, ...] = RULES) -> pa.Table:
    """The rules as a table: rule, family, threshold, severity, description."""
    return pa.table(
        {
            "rule": [r.name for r in rules],
            "family": [r.family.value for r in rules],
            "threshold": [r.threshold for r in rules],
            "severity": [r.severity.value for r in rules],
            "description": [r.description for r in rules],
        }
    )
