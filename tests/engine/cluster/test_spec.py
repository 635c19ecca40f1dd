"""`--cluster` spellings: a scheduler's address or `local:N`, anything else one usage sentence; the settings a
worker gets survive pickling (Dask sends them with each item) with every value kept."""

from __future__ import annotations

import pickle
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.core.settings import Settings
from binance_lake.engine.cluster.spec import MAX_LOCAL_WORKERS, parse_cluster, worker_settings

SETTINGS = Settings()


@given(st.integers(min_value=1, max_value=MAX_LOCAL_WORKERS))
def test_local_n_is_that_many_workers(n: int) -> None:
    spec = parse_cluster(f"local:{n}", SETTINGS)
    assert (spec.address, spec.local_workers, spec.text) == (None, n, f"local:{n}")


@given(
    st.sampled_from(["tcp", "tls"]),
    st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z0-9\-]{1,10}){0,3}", fullmatch=True),
    st.integers(min_value=1, max_value=65535),
)
def test_a_scheduler_address_is_kept_as_given(scheme: str, host: str, port: int) -> None:
    text = f"{scheme}://{host}:{port}"
    spec = parse_cluster(text, SETTINGS, window=3)
    assert (spec.address, spec.local_workers, spec.window, spec.text) == (text, 0, 3, text)


@pytest.mark.parametrize(
    "text",
    ["", "local", "local:0", f"local:{MAX_LOCAL_WORKERS + 1}", "local:-1", "8786", "127.0.0.1:8786",
     "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999", "tcp://:8786"],
)  # fmt: skip
def test_anything_else_is_one_usage_sentence(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_cluster(text, SETTINGS)
    message = str(caught.value)
    assert "\n" not in message and ("local:" in message or "port" in message)


def test_a_window_below_one_is_refused() -> None:
    with pytest.raises(UsageError, match="window"):
        parse_cluster("local:2", SETTINGS, window=0)


def test_worker_settings_pickle_with_every_value_kept() -> None:
    settings = Settings(
        symbol_sets=MappingProxyType({"top": ("BTCUSDT", "ETHUSDT")}),
        schedule=MappingProxyType({"update": "0 2 * * *"}),
        quality=MappingProxyType({"outlier_move": 0.1}),
        exports=MappingProxyType({"qlib": (MappingProxyType({"freq": "day"}),)}),
        alerts=MappingProxyType({"max_freshness_lag": MappingProxyType({"klines": "36h"})}),
        archive_url="http://127.0.0.1:1",
        stall_timeout=7.0,
    )
    with pytest.raises(TypeError):
        pickle.dumps(settings)  # why worker_settings exists
    spec = parse_cluster("local:1", settings)
    back = pickle.loads(pickle.dumps(spec))
    assert back.settings == worker_settings(settings)
    assert dict(back.settings.symbol_sets) == {"top": ("BTCUSDT", "ETHUSDT")}
    assert back.settings.exports == {"qlib": ({"freq": "day"},)}
    assert back.settings.alerts == {"max_freshness_lag": {"klines": "36h"}}
    assert (back.settings.archive_url, back.settings.stall_timeout) == ("http://127.0.0.1:1", 7.0)
