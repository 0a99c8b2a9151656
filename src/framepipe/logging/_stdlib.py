"""Bringing records of plain ``logging.getLogger(...)`` callers into the same queue."""

from __future__ import annotations

import copy
import logging
from typing import Protocol

__all__ = ["StdlibBridge"]


class _Sink(Protocol):
    level: int

    def submit_record(self, record: logging.LogRecord) -> None: ...


class StdlibBridge(logging.Handler):
    """A root-logger handler that enqueues a copy of each record, without formatting on the caller.

    Unlike ``QueueHandler`` it takes no handler lock and never prints a traceback when the queue is
    full: the logger's overflow policy counts the drop. The caller's record is shared with every
    other handler on its way up the logger tree, so it is never changed: the copy is what gets its
    arguments rendered (when they could change) and, on the writer thread, formatted. Records below
    framepipe's level are left out here; the stdlib loggers' own levels are not touched.
    """

    def __init__(self, sink: _Sink, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.sink = sink

    def handle(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.sink.level or not self.filter(record):
            return False
        self.sink.submit_record(copy.copy(record))
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)
