"""Listings, HEADs and GETs answer byte for byte as pinned in `golden_answers.json` (see golden_cases)."""

from __future__ import annotations

import json

import pytest

from tests.sim import golden_cases


@pytest.mark.parametrize("size", sorted(golden_cases.UNIVERSES))
def test_answers_equal_the_pinned_ones(size: str) -> None:
    pinned = json.loads(golden_cases.ANSWERS.read_text())[size]
    cases = golden_cases.UNIVERSES[size]
    assert [p["case"] for p in pinned] == [c.name for c in cases], "regenerate golden_answers.json"
    answers = golden_cases.capture(size, cases)
    for expected, got in zip(pinned, answers, strict=True):
        assert got == expected, expected["case"]
