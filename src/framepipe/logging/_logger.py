"""``Logger``: the object callers hold. It keeps its name and level; the core behind it is
swapped by ``configure()``, so a ``log = get_logger(__name__)`` taken at import time keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from framepipe.logging import _defaults as default
from framepipe.logging._levels import level_name, parse_level
from framepipe.typing import LogStats

__all__ = ["Logger"]

DEBUG, INFO, WARNING, ERROR, CRITICAL = (
    logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL,
)


class _LoggerCore(Protocol):
    level: int

    def submit(
        self, level: int, name: str, msg: object, args: tuple[Any, ...], exc_info: object,
        stacklevel: int, extra: dict[str, object] | None,
    ) -> None: ...

    def flush(self, timeout: float = ...) -> bool: ...

    def stop(self, timeout: float = ...) -> None: ...

    def queue_size(self) -> int: ...

    def stats(self) -> LogStats: ...


class Logger:
    """A named logger writing through the process-wide non-blocking queue.

    The methods mirror ``logging.Logger``. A call below the level costs one comparison; a call at or
    above it captures plain values and returns without formatting or I/O.
    """

    __slots__ = ("_children", "_core", "_explicit_level", "_level", "name")

    def __init__(
        self, name: str, core: _LoggerCore, children: dict[str, Logger] | None = None
    ) -> None:
        self.name = name
        self._core = core
        self._explicit_level: int | None = None
        self._level = core.level
        # Only the process-wide logger has children: they follow its level unless set their own.
        self._children = children

    # -- logging ---------------------------------------------------------------------------------

    def debug(self, msg: object, *args: object, exc_info: object = None, stacklevel: int = 1,
              extra: Mapping[str, object] | None = None) -> None:
        if self._level <= DEBUG:
            self._core.submit(DEBUG, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def info(self, msg: object, *args: object, exc_info: object = None, stacklevel: int = 1,
             extra: Mapping[str, object] | None = None) -> None:
        if self._level <= INFO:
            self._core.submit(INFO, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def warning(self, msg: object, *args: object, exc_info: object = None, stacklevel: int = 1,
                extra: Mapping[str, object] | None = None) -> None:
        if self._level <= WARNING:
            self._core.submit(WARNING, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def error(self, msg: object, *args: object, exc_info: object = None, stacklevel: int = 1,
              extra: Mapping[str, object] | None = None) -> None:
        if self._level <= ERROR:
            self._core.submit(ERROR, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def exception(self, msg: object, *args: object, exc_info: object = True, stacklevel: int = 1,
                  extra: Mapping[str, object] | None = None) -> None:
        """Log at ERROR with the exception being handled."""
        if self._level <= ERROR:
            self._core.submit(ERROR, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def critical(self, msg: object, *args: object, exc_info: object = None, stacklevel: int = 1,
                 extra: Mapping[str, object] | None = None) -> None:
        if self._level <= CRITICAL:
            self._core.submit(CRITICAL, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    def log(self, level: int, msg: object, *args: object, exc_info: object = None,
            stacklevel: int = 1, extra: Mapping[str, object] | None = None) -> None:
        if self._level <= level:
            self._core.submit(level, self.name, msg, args, exc_info, stacklevel, extra)  # type: ignore[arg-type]

    warn = warning
    fatal = critical

    # -- level -----------------------------------------------------------------------------------

    def setLevel(self, level: int | str) -> None:
        self._explicit_level = parse_level(level)
        self._level = self._explicit_level
        if self._children is not None:
            self._core.level = self._level
            for child in self._children.values():
                child._set_inherited_level(self._level)

    @property
    def level(self) -> int:
        return self._level

    def getEffectiveLevel(self) -> int:
        return self._level

    def isEnabledFor(self, level: int) -> bool:
        return self._level <= level

    # -- the shared core -------------------------------------------------------------------------

    def get_queue_size(self) -> int:
        """Records waiting for the writer now."""
        return self._core.queue_size()

    def get_stats(self) -> LogStats:
        """Counters (they only go up) and the current state of the shared queue and writer.

        After ``flush()`` with no other thread logging,
        ``accepted == written + evicted + errors + queue_size``.
        """
        return self._core.stats()

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        """Wait until every record accepted so far is written; False if ``timeout`` ran out."""
        return self._core.flush(timeout)

    def stop(self) -> None:
        """Drain the queue, close the sinks and stop the writer; calling it again does nothing.

        Records logged afterwards are discarded, counted in ``dropped`` and
        ``discarded_after_stop``, and the first one is noted once on stderr.
        """
        self._core.stop()

    def _attach(self, core: _LoggerCore) -> None:
        self._core = core
        if self._explicit_level is None:
            self._level = core.level

    def _set_inherited_level(self, level: int) -> None:
        if self._explicit_level is None:
            self._level = level

    def __repr__(self) -> str:
        return f"<framepipe Logger {self.name!r} ({level_name(self._level)})>"
