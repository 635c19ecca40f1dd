"""Dated facts about the archive that change how a file must be read, each with its upstream source.

Pure data. The parsers, the simulator and the checks all read these constants, so a quirk is written down
once. Dates are the first day the new behaviour applies (UTC).
"""

from __future__ import annotations

import datetime as dt

# Spot files hold microsecond timestamps for data from 2025-01-01 on, daily and monthly; older spot files
# and every futures/option file stay in milliseconds. Files are never mixed inside one object.
# https://github.com/binance/binance-public-data/issues/386 , /387 (README note, PR #388)
SPOT_MICROSECONDS_FROM = dt.date(2025, 1, 1)

# A raw epoch value at or above this is microseconds: 1e14 ms would be the year 5138, and 1e14 µs is
# 1973. The parser decides per file from the values, because one third party saw some feeds switch
# "mid-2025" (binance-vision PyPI page), so the calendar rule above is an expectation, not a law.
MICROSECOND_THRESHOLD = 10**14

# UM aggTrades and trades files carry a header from 2022-08-11; older ones were not regenerated.
# https://github.com/binance/binance-public-data/issues/177 , /278
UM_TRADES_HEADER_FROM = dt.date(2022, 8, 11)

# UM klines monthly files until 2022-05 have no header; the header was added after that.
# https://github.com/binance/binance-public-data/issues/246 . The exact date differs per type and symbol
# (some old daily mark/index files were regenerated with a header), so the parser detects it per file.
UM_KLINES_HEADER_FROM = dt.date(2022, 5, 1)

# CM klines: "some of those files ... contain the headers (the majority don't)" in 2023-09.
# https://github.com/binance/binance-public-data/issues/267
CM_KLINES_HEADER_FROM = dt.date(2023, 10, 1)

# UM metrics `create_time` moved from end-of-period labels (00:05 ... 00:00 next day) to start-of-period
# labels (00:00 ... 23:55) on this day, so 00:00 appears in two consecutive files. CM was always
# start-labelled. https://github.com/binance/binance-public-data/issues/491
UM_METRICS_START_LABELS_FROM = dt.date(2026, 6, 25)

# Metrics are sampled on a 5-minute grid (288 rows a day).
METRICS_PERIOD = dt.timedelta(minutes=5)

# UM bookTicker daily files stop after 2024-03-30; the 2024-04 monthly file covers only hours of 04-01.
# https://github.com/binance/binance-public-data/issues/334 , /380
UM_BOOKTICKER_LAST_DAY = dt.date(2024, 3, 30)

# CM liquidationSnapshot exists for 2023-06-25 ... 2024-10-14 and then stopped; UM's was removed.
# https://github.com/binance/binance-public-data/issues/361 , /420
CM_LIQUIDATION_FIRST_DAY = dt.date(2023, 6, 25)
CM_LIQUIDATION_LAST_DAY = dt.date(2024, 10, 14)

# UM metrics start 2021-12-01 (symbols delisted before that have none).
# https://github.com/binance/binance-public-data/issues/286
UM_METRICS_FIRST_DAY = dt.date(2021, 12, 1)

# bookDepth daily files start 2023-01-01 (30-second snapshots, issue #437).
BOOKDEPTH_FIRST_DAY = dt.date(2023, 1, 1)

# Perpetual contracts report this deliveryDate in exchangeInfo (2100-12-25 08:00 UTC).
PERPETUAL_DELIVERY_MS = 4133404800000

# A zip whose `.CHECKSUM` matches although the upload stopped early: the checksum was computed over the
# truncated bytes, so only the row counts show it. `check` flags a day holding less than this share of its
# expectation (its interval grid, or the series' median day) as `day_rows_low`.
# https://github.com/binance/binance-public-data/issues/39 , /403 , /335
TRUNCATED_DAY_SHARE = 0.5

# Exchange maintenance removes the same window of bars from every symbol that traded: not an archive defect.
# `check` calls a missing window shared by at least this share of the trading symbols (and two or more)
# `maintenance`. https://github.com/binance/binance-public-data/issues/169 , /84
MAINTENANCE_SHARE = 0.5

# A day's daily file appears the next morning (about 08:40 UTC), sometimes days late: a missing day this
# recent is `not-yet`, not a gap. https://github.com/binance/binance-public-data/issues/150
PUBLICATION_LAG_DAYS = 2

# Rows repeated (#203: UM BTCUSDT aggTrades 2022-09) or out of order (#339) inside one archive file: ingest
# keeps one of each, sorted; `check --deep` re-reads the kept zip and reports them (`raw_duplicates`,
# `raw_unordered`). https://github.com/binance/binance-public-data/issues/203 , /339
