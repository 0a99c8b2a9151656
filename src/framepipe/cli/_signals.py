"""SIGINT and SIGTERM during a benchmark: stop at once, clean up, and say so.

The default SIGTERM action kills the process where it stands, leaving the run's temporary
directory and the logging mode's threads behind; Python's own SIGINT turns into a
KeyboardInterrupt that looks like any other. Inside :class:`StopSignals` both signals raise
:class:`Interrupted`, which unwinds through every ``finally`` (modes stopped, sinks closed,
directories removed). Only the first signal raises: later ones, while that cleanup runs, are
noted and ignored, so they cannot cut it short.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["STOP_SIGNALS", "Interrupted", "StopSignals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived; a BaseException so that ``except Exception`` does not stop it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class StopSignals:
    """A context manager: SIGINT and SIGTERM raise :class:`Interrupted` (once) inside it.

    The previous handlers are restored on exit. Off the main thread, where handlers cannot be
    installed, it does nothing.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping: let the cleanup finish
        self.received = signum
        raise Interrupted(signum)
