"""Tests for framepipe._text: the words of the one-line messages users see."""

from __future__ import annotations

import pytest

from framepipe._text import plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 frames"), (1, "1 frame"), (2, "2 frames"), (-1, "-1 frames"), (1000, "1000 frames")],
)
def test_one_is_singular_every_other_count_plural(count: int, expected: str) -> None:
    assert plural(count, "frame") == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_the_count_can_be_right_aligned() -> None:
    """A column of counts: the number padded to ``width``, the word after it."""
    assert plural(1, "frame", width=4) == "   1 frame"
    assert plural(12, "frame", width=4) == "  12 frames"
