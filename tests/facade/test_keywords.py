from __future__ import annotations

import warnings

import pytest

from binance_lake.core.errors import UsageError
from binance_lake.facade.keywords import renamed


def method(value: str | None = None, old: str | None = None) -> str | None:
    """Stands for a public API method with an old keyword spelling."""
    return renamed("value", value, "old", old)


def test_the_new_spelling_passes_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert method("a") == "a" and method() is None


def test_the_old_spelling_warns_at_the_callers_line() -> None:
    with pytest.warns(DeprecationWarning, match=r"the keyword old= is now value=") as caught:
        assert method(old="b") == "b"
    assert caught[0].filename == __file__


def test_both_spellings_must_agree() -> None:
    with pytest.warns(DeprecationWarning):
        assert method("c", old="c") == "c"
    with pytest.warns(DeprecationWarning), pytest.raises(UsageError, match="not also its old spelling"):
        method("c", old="d")
