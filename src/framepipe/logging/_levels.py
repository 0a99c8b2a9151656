"""Level names and parsing."""

from __future__ import annotations

import logging

__all__ = ["LEVEL_NAMES", "level_name", "parse_level"]

LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_level(value: int | str, *, what: str = "level") -> int:
    """Return the numeric level for ``value`` (a name, any case, or a non-negative int)."""
    if isinstance(value, bool):
        pass  # bool is an int subclass but never a level
    elif isinstance(value, int) and value >= 0:
        return value
    elif isinstance(value, str):
        number = logging.getLevelName(value.strip().upper())
        if isinstance(number, int):
            return number
    expected = ", ".join(LEVEL_NAMES)
    msg = f"{what} must be one of {expected} or a non-negative int, but got {value!r}"
    raise ValueError(msg)


def level_name(levelno: int) -> str:
    return logging.getLevelName(levelno)
