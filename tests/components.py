"""How a test asks for a real component (PostgreSQL, Chromium, a pyqlib venv, …): `require(found, what,
install)` skips with the exact install instruction outside CI and fails with `CI=true`, where a missing
component means the project's own setup (`make components`, tools/components/) is broken."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(found: bool, what: str, install: str) -> None:
    """Go on when `found`; otherwise skip (outside CI) or fail (in CI) saying what to install."""
    if found:
        return
    message = f"{what} is not available: {install} (or run `make components`)"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
