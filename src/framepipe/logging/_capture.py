"""What the caller's thread captures: plain values, rendered early only if they could change.

An entry is a tuple (see ``Entry``); the writer thread turns it into a ``logging.LogRecord``.
Tuples of immutable values are untracked by the garbage collector, so a full queue adds nothing to
the cost of a full collection (stdlib ``QueueHandler`` queues tracked ``LogRecord`` objects).
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

__all__ = [
    "ARGS",
    "CALLER",
    "CREATED",
    "ENTRY_LENGTH",
    "EXC_INFO",
    "EXTRA",
    "IMMUTABLE_TYPES",
    "LEVELNO",
    "MSG",
    "NAME",
    "ORIGIN",
    "SEQ",
    "THREAD_IDENT",
    "THREAD_NAME",
    "CallerInfo",
    "Entry",
    "ExcInfo",
    "Origin",
    "find_caller",
    "freeze_args",
    "may_change",
    "normalize_exc_info",
]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
CallerInfo = tuple[str, int, str]  # (pathname, lineno, funcName)
# Where a record from another process comes from: (stream, pid, processName).
Origin = tuple[str, int, str]

# (created, levelno, name, msg, args, exc_info, thread_ident, caller, thread_name, extra, seq,
# origin). ``seq`` numbers the records this process offered to its logger (1, 2, ...), so a lost
# one leaves a gap; ``origin`` is None for this process's own records. A record from another
# process carries its exception as text (``exc_info`` a str): a traceback cannot cross over.
Entry = tuple[
    float, int, str, object, tuple[object, ...], ExcInfo | str | None, int,
    CallerInfo | None, str | None, dict[str, object] | None, int, Origin | None,
]
ENTRY_LENGTH = 12
# The position of each field: code that reads one field of an entry says which by name. The
# entry stays a tuple (cheap to build on the caller's thread, untracked by the garbage collector).
(CREATED, LEVELNO, NAME, MSG, ARGS, EXC_INFO, THREAD_IDENT, CALLER, THREAD_NAME, EXTRA, SEQ,
 ORIGIN) = range(ENTRY_LENGTH)

# Arguments of these exact types cannot change after the call, so formatting can wait.
IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None), bytes, complex})
# Built-in values that change in place (and numpy arrays, such as frames): rendered on the caller.
# Objects of other types -- user classes included, whose __str__ may be slow -- are rendered by
# the writer thread and show their state at that time.
MUTABLE_TYPES: tuple[type, ...] = (list, dict, set, bytearray, memoryview, array, deque)


def may_change(args: object, depth: int = 3) -> bool:
    """Whether an argument (or a value in a tuple argument) is of a type that changes in place."""
    numpy = sys.modules.get("numpy")  # only a program that imported numpy can pass arrays
    mutable = MUTABLE_TYPES if numpy is None else (*MUTABLE_TYPES, numpy.ndarray)
    if isinstance(args, mutable):
        return True
    if depth and isinstance(args, tuple):
        return any(may_change(value, depth - 1) for value in args)
    return False


def freeze_args(msg: object, args: tuple[Any, ...]) -> tuple[object, tuple[Any, ...]]:
    """Render ``msg % args`` now, because an argument is mutable and could change before writing.

    Mirrors ``LogRecord.getMessage``; when the arguments do not fit the message the pair is returned
    unchanged so that the writer reports the error the way ``logging`` would.
    """
    values: Any = args
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        values = args[0]
    try:
        return str(msg) % values, ()
    except Exception:
        return msg, args


def normalize_exc_info(exc_info: object) -> ExcInfo | None:
    """Turn ``exc_info=True``/an exception/a tuple into an ``(type, value, traceback)`` triple."""
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple):
        return exc_info if exc_info[0] is not None else None
    info = sys.exc_info()
    return info if info[0] is not None else None


def find_caller(depth: int) -> CallerInfo:
    """The (pathname, lineno, funcName) of the frame ``depth`` levels above this call's caller."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return ("(unknown file)", 0, "(unknown function)")
    code = frame.f_code
    return (code.co_filename, frame.f_lineno, code.co_name)
