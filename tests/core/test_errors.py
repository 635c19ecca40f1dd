from __future__ import annotations

from binance_lake.core import errors


def test_transient_marker_decides_retries() -> None:
    assert errors.is_transient(errors.RateLimited("slow down", retry_after=3))
    assert errors.is_transient(errors.ServerError("502"))
    assert errors.is_transient(errors.ConnectionFailed("reset"))
    assert not errors.is_transient(errors.NotFound("404"))
    assert not errors.is_transient(errors.IpBanned("418"))
    assert not errors.is_transient(errors.ChecksumMismatch("bad", expected="a", actual="b"))
    assert not errors.is_transient(errors.UsageError("bad input"))


def test_every_error_has_one_base() -> None:
    for name in dir(errors):
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception) and not issubclass(value, Warning):
            assert issubclass(value, errors.BinanceLakeError)


def test_warnings_are_user_warnings() -> None:
    assert issubclass(errors.MissingDataWarning, UserWarning)
