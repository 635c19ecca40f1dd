"""load/request.py's symbols: names, ccxt names for the load's market and symbol files, as `--symbols` takes
them everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.load.request import build_request


def test_ccxt_names_and_files_in_a_load_request(tmp_path: Path) -> None:
    shortlist = tmp_path / "spot_synchronal.csv"
    shortlist.write_text("market,symbol,earliest_date\nspot,ETHUSDT,2017-08-17\n")
    request = build_request(
        "klines", ["BTC/USDT:USDT", f"@file:{shortlist}", "btcusdt"], "2024-01-01", market="um", interval="1h"
    )
    assert request.symbols == ("BTCUSDT", "ETHUSDT")
    cm = build_request("fundingRate", "BTC/USD:BTC", "2024-01-01", market="cm")
    assert cm.symbols == ("BTCUSD_PERP",)
    with pytest.raises(UsageError, match="BTC/USD:BTC is BTCUSD_PERP on cm, not a um symbol"):
        build_request("fundingRate", "BTC/USD:BTC", "2024-01-01", market="um")
