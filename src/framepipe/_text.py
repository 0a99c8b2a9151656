"""Small text helpers for the one-line messages users see."""

from __future__ import annotations

__all__ = ["one_line", "plural"]


def one_line(exc: BaseException) -> str:
    """``"TypeName: message"`` with the message's whitespace (newlines too) collapsed."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def plural(count: int, noun: str, plural_noun: str | None = None, *, width: int = 0) -> str:
    """``"1 frame"``, ``"0 frames"``, ``"2 frames"``: the count and the noun, singular for 1.

    ``plural_noun`` when adding an ``s`` is wrong; ``width`` right-aligns the count, for columns.
    """
    word = noun if count == 1 else (plural_noun if plural_noun is not None else f"{noun}s")
    return f"{count:>{width}} {word}"
