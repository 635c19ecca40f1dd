"""Old keyword spellings of the API, kept for one release with a `DeprecationWarning`."""

from __future__ import annotations

import warnings
from typing import TypeVar

from binance_lake.core.errors import UsageError

T = TypeVar("T")


def warn_renamed(new: str, old: str, *, stacklevel: int) -> None:
    """Say that keyword `old` is now `new`; `stacklevel` counts from the caller of this function."""
    warnings.warn(
        f"the keyword {old}= is now {new}= (the old spelling goes in the next release)",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def renamed(new: str, value: T, old: str, old_value: T | None, *, depth: int = 0) -> T:
    """The value of keyword `new`, or of its old spelling `old`. Call it from the public method itself (or
    `depth` helper calls below it): the warning points at that method's caller."""
    if old_value is None:
        return value
    warn_renamed(new, old, stacklevel=3 + depth)
    if value is not None and value != old_value:
        raise UsageError(f"give {new}= only, not also its old spelling {old}=")
    return old_value
