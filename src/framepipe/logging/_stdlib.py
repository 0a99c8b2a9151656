"""Bringing records of plain ``logging.getLogger(...)`` callers into the same queue."""

from __future__ import annotations

import logging
from typing import Protocol

__all__ = ["StdlibBridge"]


class _Sink(Protocol):
    def submit_record(self, record: logging.LogRecord) -> None: ...


class StdlibBridge(logging.Handler):
    """A root-logger handler that enqueues records as they are, without formatting on the caller.

    Unlike ``QueueHandler`` it takes no handler lock and never prints a traceback when the queue is
    full: the logger's overflow policy counts the drop.
    """

    def __init__(self, sink: _Sink, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.sink = sink

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        self.sink.submit_record(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.submit_record(record)
