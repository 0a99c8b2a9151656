"""Stop signals, one rule for every command.

Inside :func:`stop_on_signals`, SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed, an SSH
session dropped; where the platform has it) call ``stop(signum)`` the first time and
``abort(signum)`` every time after. The first signal asks for a clean stop: the command finishes
what it must (the current frame, the video file, the summary). A second one says the user will not
wait for that: each command decides what giving up means (stop waiting for the frame in hand,
kill the workers), or ignores it while cleanup that must not be cut short runs.

The previous handlers are restored on the way out. Off the main thread, where handlers cannot
be installed, nothing is installed and nothing is received.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = [
    "STOP_SIGNALS",
    "Interrupted",
    "ignore",
    "raise_interrupt",
    "stop_on_signals",
]

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

SignalAction = Callable[[int], None]


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, whichever signal it was: ``except Exception``
    does not stop it, and code that cleans up after Ctrl-C does so after SIGTERM too."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def raise_interrupt(signum: int) -> None:
    """Unwind from wherever the main thread is, through every ``finally``."""
    raise Interrupted(signum)


def ignore(signum: int) -> None:
    """Do nothing: the signal is noted in the received list only."""


@contextmanager
def stop_on_signals(stop: SignalAction, abort: SignalAction) -> Iterator[list[str]]:
    """Turn the first stop signal into ``stop(signum)`` and any later one into ``abort(signum)``.

    Yields the names of the signals received so far, in order (``["SIGINT"]``); the list is
    appended to before the action runs, so an action that raises still leaves its trace.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        (stop if len(received) == 1 else abort)(signum)

    previous: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handle)
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
