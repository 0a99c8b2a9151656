"""Failures of the monitor's own threads, logged once per kind however often they recur.

The monitor is a guest in the watched process: a failure of its own (a frame it cannot show, a
reading it cannot build) must neither end the thread that met it nor flood the log ten times a
second. Records go to the standard ``logging`` logger ``framepipe.monitor``, which reaches the
application's log when it captures the standard library's loggers (framepipe's ``configure()``
does), and configures nothing on its own.
"""

from __future__ import annotations

import logging
import threading

from framepipe._text import one_line

__all__ = ["LOGGER_NAME", "OncePerKind"]

LOGGER_NAME = "framepipe.monitor"


class OncePerKind:
    """Logs each kind of failure the first time it happens, and then stays quiet about it."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log if log is not None else logging.getLogger(LOGGER_NAME)
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def first(self, what: str, kind: str) -> bool:
        """Whether ``what`` failing as ``kind`` is new (and from now on, not)."""
        with self._lock:
            if (what, kind) in self._seen:
                return False
            self._seen.add((what, kind))
            return True

    def error(self, what: str, exc: BaseException) -> None:
        """An ERROR with the traceback, the first time ``what`` fails with ``exc``'s type."""
        if self.first(what, type(exc).__qualname__):
            self.log.error(
                "stats server: %s failed (%s); monitoring goes on, and this is logged once",
                what, one_line(exc), exc_info=exc,
            )  # fmt: skip

    def warning(self, what: str, message: str) -> None:
        """A WARNING with ``message``, the first time ``what`` says it."""
        if self.first(what, message):
            self.log.warning("stats server: %s", message)
