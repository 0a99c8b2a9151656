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


class TestEntryFields:
    """An entry stays a plain tuple; its fields are read through named positions."""

    def test_each_named_position_holds_its_field_in_a_captured_entry(self) -> None:
        """A record captured by a core has each field where its name says."""
        from framepipe.logging import _capture as capture
        from framepipe.logging._core import SyncCore

        core = SyncCore([], level=0, log_file=None, overflow="drop_newest", protect_level=30)
        entry = core._entry(40, "cam", "frame %d", (7,), None, 1, {"node": "n1"}, 12)
        assert len(entry) == capture.ENTRY_LENGTH
        assert entry[capture.LEVELNO] == 40
        assert entry[capture.NAME] == "cam"
        assert entry[capture.MSG] == "frame %d"
        assert entry[capture.ARGS] == (7,)
        assert entry[capture.EXC_INFO] is None
        assert isinstance(entry[capture.CREATED], float)
        assert isinstance(entry[capture.THREAD_IDENT], int)
        assert entry[capture.EXTRA] == {"node": "n1"}
        assert entry[capture.SEQ] == 12
        assert entry[capture.ORIGIN] is None

    def test_the_positions_are_the_fields_of_the_entry_type_in_order(self) -> None:
        """One name per field, numbered 0 .. ENTRY_LENGTH - 1, as the Entry type lists them."""
        import typing

        from framepipe.logging import _capture as capture

        names = ("CREATED", "LEVELNO", "NAME", "MSG", "ARGS", "EXC_INFO", "THREAD_IDENT",
                 "CALLER", "THREAD_NAME", "EXTRA", "SEQ", "ORIGIN")
        assert [getattr(capture, name) for name in names] == list(range(capture.ENTRY_LENGTH))
        assert len(typing.get_args(capture.Entry)) == capture.ENTRY_LENGTH
