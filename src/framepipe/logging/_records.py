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

__all__ = ["START_TIME", "build_record", "message_args", "process_name", "thread_name"]

# What LogRecord measures relativeCreated from: the time logging was imported.
START_TIME: float = getattr(logging, "_startTime", 0.0)


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
    """Build the ``LogRecord`` for a captured entry, as ``Logger.makeRecord`` would have."""
    created, levelno, name, msg, args, exc_info, ident, caller, captured_name, extra = entry
    pathname, lineno, func = caller if caller is not None else ("", 0, "")
    filename = os.path.basename(pathname)
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(
        name=name, msg=msg, args=message_args(args), levelname=level_name(levelno),
        levelno=levelno, pathname=pathname, filename=filename,
        module=os.path.splitext(filename)[0], exc_info=exc_info, exc_text=None, stack_info=None,
        lineno=lineno, funcName=func, created=created,
        msecs=int((created - int(created)) * 1000) + 0.0,
        relativeCreated=(created - START_TIME) * 1000, thread=ident,
        threadName=captured_name if captured_name is not None else thread_name(ident),
        processName=process_name(), process=os.getpid(), taskName=None,
    )
    if extra:
        for key, value in extra.items():
            if key not in record.__dict__:
                record.__dict__[key] = value
    return record
