"""What the caller captures: frozen arguments, exception info, caller frames."""

from __future__ import annotations

import sys

import pytest

from framepipe.logging._capture import (
    IMMUTABLE_TYPES,
    find_caller,
    freeze_args,
    may_change,
    normalize_exc_info,
)


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("%s", ([1, 2],), ("[1, 2]", ())),  # a list is rendered now
        ("%(a)s-%(b)s", ({"a": 1, "b": 2},), ("1-2", ())),  # a mapping, as logging does
        ("%d items", ("not a number",), ("%d items", ("not a number",))),  # left for the writer
    ],
)
def test_freeze_args_renders_like_logging(msg: str, args: tuple, expected: tuple) -> None:
    """freeze_args mirrors LogRecord.getMessage and leaves a bad format untouched."""
    assert freeze_args(msg, args) == expected


def test_only_immutable_types_are_left_unrendered() -> None:
    """Containers and arbitrary objects are not in the immutable set."""
    assert {int, float, str, bytes, bool, type(None)} <= IMMUTABLE_TYPES
    assert not {list, dict, set, bytearray, object} & IMMUTABLE_TYPES


class TestExcInfo:
    def test_true_takes_the_exception_being_handled(self) -> None:
        """exc_info=True means sys.exc_info()."""
        try:
            raise KeyError("k")
        except KeyError:
            captured = normalize_exc_info(True)
            expected = sys.exc_info()
        assert captured == expected

    def test_an_exception_instance_is_expanded(self) -> None:
        """exc_info=<exception> gives its type, value and traceback."""
        exc = ValueError("v")
        assert normalize_exc_info(exc) == (ValueError, exc, None)

    def test_true_outside_an_except_block_is_none(self) -> None:
        """No exception being handled: nothing to attach."""
        assert normalize_exc_info(True) is None


def test_find_caller_names_the_frame_above() -> None:
    """find_caller(0) is the function that called find_caller's caller's frame."""

    def helper() -> tuple[str, int, str]:
        return find_caller(1)

    line = sys._getframe().f_lineno + 1
    filename, lineno, func = helper()
    assert (filename, lineno, func) == (__file__, line, "test_find_caller_names_the_frame_above")


class _UserType:
    """A user object: rendered by the writer, whatever its __str__ costs."""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((1, "s", 2.5), False),  # immutable values
        ((_UserType(),), False),  # user types are left for the writer
        (((1, "a"),), False),  # a tuple of immutable values
        (([1],), True),  # a list
        (({"k": 1},), True),  # a dict (also the mapping form of arguments)
        ((bytearray(b"x"),), True),  # a bytearray
        ((("label", {1, 2}),), True),  # a set inside a tuple
    ],
)
def test_may_change_is_true_only_for_values_that_change_in_place(
    args: tuple, expected: bool
) -> None:
    """Only built-in mutable containers (and arrays) make the caller render the message."""
    assert may_change(args) is expected
