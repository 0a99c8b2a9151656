"""Formatting a captured entry straight into its line, without a ``LogRecord``.

Building a ``LogRecord`` and running ``logging.Formatter`` costs the writer about as much Python
work per record as synchronous logging costs a caller. For a plain ``logging.Formatter`` with a
``%``-style format whose fields all come from the entry, ``compile_format`` turns the format once
into a function ``entry -> line`` that does only what that format needs, and gives the same text
as ``formatter.format(build_record(entry))``. Anything it cannot promise that for -- another
formatter class, another style, ``defaults``, a field it does not know -- compiles to ``None``,
and the caller keeps using the ``LogRecord`` path. Entries with exception info or ``extra`` are
not for this function either: it raises ``NotPlain``, and they go through their ``LogRecord``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from framepipe.logging._records import START_TIME, process_name, stream_name, thread_name

__all__ = ["CompiledFormat", "NotPlain", "compile_format", "format_key"]

# One %-directive of a format, as PercentStyle validates it, but only with conversions that
# % formatting accepts (PercentStyle also lets "%(x)S" through, which fails for every record).
_DIRECTIVE = re.compile(r"%%|%\((\w+)\)([#0+ -]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")

# The local variable (or expression) each field has in the generated function.
_FIELD_CODE = {
    "name": "name",
    "levelno": "levelno",
    "levelname": "levelname",
    "message": "message",
    "asctime": "asctime",
    "created": "created",
    "msecs": "msecs",
    "relativeCreated": "(created - START_TIME) * 1000",
    "thread": "ident",
    "threadName": "thread_name if thread_name is not None else thread_name_of(ident)",
    "process": "getpid() if origin is None else origin[1]",
    "processName": "process_name() if origin is None else origin[2]",
    "stream": "stream_name() if origin is None else origin[0]",
    "seq": "seq",
    "pathname": "pathname",
    "filename": "basename(pathname)",
    "module": "splitext(basename(pathname))[0]",
    "lineno": "lineno",
    "funcName": "funcName",
    "taskName": "None",
}
_CALLER_FIELDS = frozenset({"pathname", "filename", "module", "lineno", "funcName"})
# Converters whose result depends on the whole second only (they floor): a cache key.
_SECOND_CONVERTERS = (time.localtime, time.gmtime)
# Methods whose behaviour the compiled function reproduces (for records without exception or
# stack info). One replaced on the class or, for the formatter, on the instance is something it
# cannot know about.
_FORMATTER_METHODS = ("format", "formatMessage", "formatTime", "usesTime")
_REPRODUCED = (
    (logging.Formatter, _FORMATTER_METHODS),
    (logging.PercentStyle, ("format", "_format", "usesTime")),
    (logging.LogRecord, ("getMessage",)),
)


def _methods_now() -> tuple[Any, ...]:
    return tuple(getattr(cls, name) for cls, names in _REPRODUCED for name in names)


def _logging_own(methods: tuple[Any, ...]) -> bool:
    """Whether ``methods`` (from ``_methods_now``) are the ones the logging module defines."""
    expected = (f"{cls.__name__}.{name}" for cls, names in _REPRODUCED for name in names)
    return all(
        getattr(method, "__module__", None) == "logging"
        and getattr(method, "__qualname__", None) == qualname
        for method, qualname in zip(methods, expected, strict=True)
    )


class NotPlain(Exception):
    """The entry carries exception info or ``extra``: its ``LogRecord`` must format it."""


@dataclass(frozen=True)
class CompiledFormat:
    """``format(entry)`` is the line; ``reset()`` forgets cached times and level names."""

    format: Callable[[Any], str]  # raises NotPlain for anything but a plain entry
    reset: Callable[[], None]


def format_key(formatter: logging.Formatter | None, terminator: str = "") -> tuple[Any, ...]:
    """What the compiled function depends on: compile again when this changes."""
    if formatter is None:
        return (None,)
    style = getattr(formatter, "_style", None)
    return (
        terminator, formatter, type(formatter), getattr(formatter, "_fmt", None), formatter.datefmt,
        formatter.converter, formatter.default_time_format, formatter.default_msec_format,
        style, type(style), getattr(style, "_fmt", None), getattr(style, "_defaults", None),
        tuple(name for name in _FORMATTER_METHODS if name in vars(formatter)),
        tuple(vars(style)) if style is not None else (), _methods_now(),
    )


def compile_format(
    formatter: logging.Formatter | None, terminator: str = ""
) -> CompiledFormat | None:
    """The fast formatter for ``formatter``, or None when only the ``LogRecord`` path is exact.

    Its lines end with ``terminator`` (a handler's), saving a string copy per record.
    """
    if (
        formatter is None
        or type(formatter) is not logging.Formatter
        or any(name in vars(formatter) for name in _FORMATTER_METHODS)
        or not _logging_own(_methods_now())
    ):
        return None
    style = getattr(formatter, "_style", None)
    fmt = getattr(formatter, "_fmt", None)
    if (
        type(style) is not logging.PercentStyle
        or set(vars(style)) != {"_fmt", "_defaults"}
        or getattr(style, "_defaults", None)
        or not isinstance(fmt, str)
        or style._fmt != fmt
    ):
        return None
    parsed = _positional(fmt)
    if parsed is None:
        return None
    template, fields = parsed
    template += terminator.replace("%", "%%")
    return _generate(formatter, template, fields, uses_time=style.usesTime())


def _positional(fmt: str) -> tuple[str, list[str]] | None:
    """``fmt`` with each ``%(field)spec`` turned into ``%spec``, and the fields in order.

    ``"%(a)-8s" % {"a": v}`` and ``"%-8s" % (v,)`` convert ``v`` alike; None when ``fmt`` holds
    anything else that ``%`` would act on, or a field the entry does not carry.
    """
    fields: list[str] = []
    parts: list[str] = []
    end = 0
    for match in _DIRECTIVE.finditer(fmt):
        literal = fmt[end:match.start()]
        if "%" in literal:
            return None
        parts.append(literal)
        if match.group(1) is None:
            parts.append("%%")
        elif match.group(1) not in _FIELD_CODE:
            return None
        else:
            fields.append(match.group(1))
            parts.append("%" + match.group(2))
        end = match.end()
    if "%" in fmt[end:]:
        return None
    parts.append(fmt[end:])
    return "".join(parts), fields


def _generate(
    formatter: logging.Formatter, template: str, fields: list[str], *, uses_time: bool
) -> CompiledFormat:
    """Write the function for this format (as ``dataclasses`` and ``namedtuple`` do)."""
    needed = set(fields)
    # Every step Formatter.format takes, in its order, so the same step fails first. The
    # mapping test is LogRecord's (message_args), written out because this runs per record.
    body = [
        "    def format_entry(entry):",
        "        nonlocal low, high, text",
        "        (created, levelno, name, msg, args, exc_info, ident, caller, thread_name,",
        "         extra, seq, origin) = entry",
        "        if exc_info is not None or extra is not None:",
        "            raise NotPlain",
        "        if args:",
        "            if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:",
        "                args = args[0]",
        "            message = (msg if msg.__class__ is str else str(msg)) % args",
        "        else:",
        "            message = msg if msg.__class__ is str else str(msg)",
    ]
    if needed & _CALLER_FIELDS:
        body.append(
            '        pathname, lineno, funcName = caller if caller is not None else ("", 0, "")'
        )
    if uses_time:
        body += _time_code(formatter)
    elif "msecs" in needed:
        body.append("        msecs = int((created - int(created)) * 1000) + 0.0")
    if "levelname" in needed:
        body += [
            "        try:",
            "            levelname = level_names[levelno]",
            "        except KeyError:",
            "            levelname = level_names[levelno] = get_level_name(levelno)",
        ]
    values = "".join(_FIELD_CODE[field] + ", " for field in fields)
    body.append(f"        return TEMPLATE % ({values})")
    source = "\n".join([
        "def make():",
        "    low = high = 0.0  # [low, high): the whole second whose asctime is text",
        "    text = ''",
        "    level_names = {}",
        *body,
        "    def reset():",
        "        nonlocal low, high",
        "        low = high = 0.0",
        "        level_names.clear()",
        "    return format_entry, reset",
    ])
    namespace: dict[str, Any] = {
        "TEMPLATE": template, "START_TIME": START_TIME, "Mapping": Mapping, "NotPlain": NotPlain,
        "thread_name_of": thread_name, "process_name": process_name, "getpid": os.getpid,
        "stream_name": stream_name,
        "basename": os.path.basename, "splitext": os.path.splitext, "strftime": time.strftime,
        "converter": formatter.converter,
        "TIME_FORMAT": formatter.datefmt or formatter.default_time_format,
        "MSEC_FORMAT": formatter.default_msec_format, "get_level_name": logging.getLevelName,
    }
    exec(source, namespace)  # our own code, from a format checked above
    format_entry, reset = namespace["make"]()
    return CompiledFormat(format=format_entry, reset=reset)


def _time_code(formatter: logging.Formatter) -> list[str]:
    """Lines computing ``msecs`` as LogRecord and ``asctime`` as ``formatTime`` do."""
    if formatter.converter in _SECOND_CONVERTERS:
        # These converters floor, so one whole second has one text; int() equals the floor
        # only from 0 up, so below 0 the range stays empty and nothing is cached.
        lines = [
            "        if low <= created < high:",
            "            msecs = int((created - low) * 1000) + 0.0",
            "        else:",
            "            whole = int(created)",
            "            msecs = int((created - whole) * 1000) + 0.0",
            "            text = strftime(TIME_FORMAT, converter(created))",
            "            low, high = (whole + 0.0, whole + 1.0) if created >= 0 else (0.0, 0.0)",
            "        asctime = text",
        ]
    else:
        lines = [
            "        msecs = int((created - int(created)) * 1000) + 0.0",
            "        asctime = strftime(TIME_FORMAT, converter(created))",
        ]
    if not formatter.datefmt and formatter.default_msec_format:
        lines.append("        asctime = MSEC_FORMAT % (asctime, msecs)")
    return lines
