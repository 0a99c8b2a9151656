"""Level parsing."""

from __future__ import annotations

import logging

import pytest

from framepipe.logging._levels import parse_level


@pytest.mark.parametrize(
    ("value", "expected"),
    [("INFO", logging.INFO), ("warning", logging.WARNING), (" Debug ", logging.DEBUG), (25, 25)],
)
def test_names_in_any_case_and_ints_are_levels(value: object, expected: int) -> None:
    """Level names are case-insensitive; non-negative ints pass through."""
    assert parse_level(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["LOUD", -1, True, None, 2.5])
def test_anything_else_is_refused(value: object) -> None:
    """Unknown names, negative numbers, bools and other types raise ValueError."""
    with pytest.raises(ValueError, match="level must be one of"):
        parse_level(value)  # type: ignore[arg-type]
