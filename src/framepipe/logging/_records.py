"""What a captured entry stands for: its ``LogRecord``, and the record fields it implies.

Both ways of writing an entry -- through a ``LogRecord`` and ``logging.Formatter``, or straight
from the entry (``_fastformat``) -- take the derived fields from here, so they cannot disagree.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from framepipe.logging._capture import Entry
from framepipe.logging._levels import level_name

__all__ = [
    "START_TIME",
    "build_record",
    "message_args",
    "process_name",
    "set_stream",
    "stamp_record",
    "stream_name",
    "thread_name",
]

# What LogRecord measures relativeCreated from: the time logging was imported.
START_TIME: float = getattr(logging, "_startTime", 0.0)

# This process's stream name, as ``connect(address, stream=...)`` set it; None: the process name.
_stream: str | None = None


def set_stream(name: str | None) -> None:
    global _stream
    _stream = name


def stream_name() -> str:
    """What ``%(stream)s`` shows for this process's own records."""
    return _stream if _stream is not None else process_name()


def thread_name(ident: int) -> str:
    """The name of the thread ``ident`` now (as the entry did not capture it)."""
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    return thread.name if thread is not None else f"Thread-{ident}"


def process_name() -> str:
    """As LogRecord does: ask multiprocessing only if the program already uses it."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return "MainProcess"
    try:
        return str(mp.current_process().name)
    except Exception:
        return "MainProcess"


def message_args(args: tuple[Any, ...]) -> Any:
    """The record's ``args``: a single non-empty mapping stands for itself, as in LogRecord."""
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        return args[0]
    return args


def build_record(entry: Entry) -> logging.LogRecord:
    """Build the ``LogRecord`` for a captured entry, as ``Logger.makeRecord`` would have.

    Besides logging's own fields it has ``stream`` and ``seq``; an entry from another process
    (``origin``) keeps that process's stream, pid and process name.
    """
    (created, levelno, name, msg, args, exc_info, ident, caller, captured_name, extra, seq,
     origin) = entry
    pathname, lineno, func = caller if caller is not None else ("", 0, "")
    filename = os.path.basename(pathname)
    if origin is None:
        stream, pid, process = stream_name(), os.getpid(), process_name()
    else:
        stream, pid, process = origin
    exc_text = None
    if isinstance(exc_info, str):  # rendered by the process that logged it
        exc_text, exc_info = exc_info, None
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(
        name=name, msg=msg, args=message_args(args), levelname=level_name(levelno),
        levelno=levelno, pathname=pathname, filename=filename,
        module=os.path.splitext(filename)[0], exc_info=exc_info, exc_text=exc_text,
        stack_info=None, lineno=lineno, funcName=func, created=created,
        msecs=int((created - int(created)) * 1000) + 0.0,
        relativeCreated=(created - START_TIME) * 1000, thread=ident,
        threadName=captured_name if captured_name is not None else thread_name(ident),
        processName=process, process=pid, taskName=None, stream=stream, seq=seq,
    )
    if extra:
        for key, value in extra.items():
            if key not in record.__dict__:
                record.__dict__[key] = value
    return record


def stamp_record(record: logging.LogRecord) -> logging.LogRecord:
    """Give a record made elsewhere (a plain ``logging`` logger's, the writer's own notice) the
    ``stream`` and ``seq`` fields a format may show; ``seq`` 0 for a record nobody numbered."""
    fields = record.__dict__
    if "stream" not in fields:
        fields["stream"] = stream_name()
    if "seq" not in fields:
        fields["seq"] = 0
    return record
