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

# --- WebSocket market streams (reference §5) ---------------------------------------------------------------
# Since the 2026 routing change, regular market streams (aggTrade, kline, markPrice, forceOrder) are served only
# on the `/market` entry point; an unrouted or `/public` connection silently receives none of them. Legacy URLs
# were retired 2026-04-23.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
WS_MARKET_ROUTE = "market"
WS_ROUTED_FROM = dt.date(2026, 4, 23)

# "A single connection can listen to a maximum of 200 streams" (futures; spot allows 1024) and "WebSocket
# connections have a limit of 10 incoming messages per second"; a connection "is only valid for 24 hours".
# https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
WS_MAX_STREAMS = 200
WS_MAX_INCOMING_PER_SECOND = 10
WS_CONNECTION_LIFE_SECONDS = 24 * 3600

# Since about 2026-10 the USDⓈ-M forceOrder `o` object also carries `"ps"` (pair) and `"st"` [OBSERVED by a
# client]; COIN-M's always had `"ps"`. Kept when present, NULL otherwise.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams
UM_FORCE_ORDER_PS_ST_FROM = dt.date(2026, 10, 1)

# COIN-M delivery contracts' markPrice stream sends `"r": ""` and `"T": 0` (no funding): stored as NULL.
# https://developers.binance.com/docs/derivatives/coin-margined-futures/websocket-market-streams/Mark-Price-Stream
CM_DELIVERY_MARK_NO_FUNDING = True
# COIN-M klines' `quote_volume` column holds base-asset volume (issue #267), and dapi's 24 h ticker names
# that figure `baseVolume` where fapi and spot answer `quoteVolume`: a COIN-M symbol's USD volume is its base
# volume times its price (`--symbols @top:N` ranks cm that way, from the lake and from REST).
# https://github.com/binance/binance-public-data/issues/267 ,
# https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/24hr-Ticker-Price-Change-Statistics
CM_TICKER_VOLUME_FIELD = "baseVolume"
# REST `fundingRate` records carry no funding interval (the archive's `funding_interval_hours` column has it;
# `/fapi/v1/fundingInfo` only knows the current one, and only for symbols whose funding parameters were
# adjusted). The REST fill infers each record's interval from the gap to the next funding time, the newest
# record's from `/premiumIndex`'s `nextFundingTime` (every symbol), falling back to this. https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History
DEFAULT_FUNDING_INTERVAL_HOURS = 8

# `/futures/data/*` (open interest history, long/short ratios, taker volume) keeps "only the data of the latest
# 30 days": `update` collects these REST-only datasets every run so the lake holds what REST no longer serves.
# Their `timestamp` is a number although the doc examples show a string.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics
STATISTICS_REST_DAYS = 30

# Kline `endTime` is inclusive on OPEN time (`endTime=00:01:59.999` returns the 00:00 and 00:01 bars), and the
# real API also returns the still-open bar with partial values: the REST fill asks only up to the last closed
# bar's open time, so an open bar is never stored.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
KLINE_END_TIME_IS_OPEN_TIME = True

# COIN-M klines: "The difference between startTime and endTime can only be up to 200 days".
# https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Kline-Candlestick-Data
CM_KLINE_MAX_DAYS = 200

# Each REST host keeps its own weight limit (2400/min on fapi and dapi), reported in X-MBX-USED-WEIGHT-1M; 429
# carries Retry-After, and requests sent while limited earn a 418 ban "from 2 minutes to 3 days".
# https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits
# https://dev.binance.vision/t/what-are-the-rate-limits-for-api-sapi-fapi-dapi/ (hosts do not share limits)
REST_WEIGHT_PER_MINUTE = 2400
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

# REST aggTrades pages forward by id with `fromId` (max `limit` 1000, weight 20 on fapi and dapi): the stream's
# hole repair asks by id, not by time, so trades sharing a millisecond at the hole's edge are neither lost nor
# doubled.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List
# https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List
AGG_TRADES_PAGE = 1000
AGG_TRADES_WEIGHT = 20
