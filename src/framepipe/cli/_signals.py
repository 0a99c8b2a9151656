"""Stop signals, one rule for every command.

Inside :func:`stop_on_signals`, SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed, an SSH
session dropped; where the platform has it) call ``stop(signum)`` the first time and
``abort(signum)`` every time after. The first signal asks for a clean stop: the command finishes
what it must (the current frame, the video file, the summary). A second one says the user will not
wait for that: each command decides what giving up means (stop waiting for the frame in hand,
kill the workers), or ignores it while cleanup that must not be cut short runs.

The previous handlers are restored on the way out. Off the main thread, where handlers cannot
be installed, nothing is installed and nothing is received.

A block given ``reload`` (a service, which reads its config file again on SIGHUP, as daemons do)
takes SIGHUP as a request to reload instead: ``reload(signum)`` runs, and the signal does not
count towards stopping. A SIGHUP noted before such a block (while the service started) is one
reload, asked for as the block is entered.

A command owns the signals from its first instruction: :func:`hold_signals` (entered by
``main()`` before anything is imported) installs one handler that notes every stop signal, and
acts on it only through the block of :func:`stop_on_signals` that is active. Between blocks (the
imports, opening the log, starting Ray) a signal is noted, never fatal; the next block acts on
what was noted as soon as it is entered: the first signal is its ``stop``, a second its
``abort``. So there is no moment at which a stop signal kills the process or is lost.
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
    "hold_signals",
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


RELOAD_SIGNAL: signal.Signals | None = getattr(signal, "SIGHUP", None)


class _Hold:
    """The signals noted since :func:`hold_signals` began, and the block acting on them."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.actions: tuple[SignalAction, SignalAction] | None = None
        self.reload: SignalAction | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reload is not None and signum == RELOAD_SIGNAL:
            self.reload(signum)
            return
        self.received.append(signal.Signals(signum).name)
        if self.actions is not None:
            stop, abort = self.actions
            (stop if len(self.received) == 1 else abort)(signum)


_hold: _Hold | None = None


@contextmanager
def hold_signals(*, restore: bool = True) -> Iterator[list[str]]:
    """Note every stop signal from now on; the blocks of :func:`stop_on_signals` act on them.

    Yields the names of the signals received, in order. ``restore=False`` ignores them on the
    way out instead of restoring the handlers found: a program about to exit (its output
    written) then cannot be killed by a stop signal while the interpreter shuts down (which puts
    back the default action of any handler it finds, but leaves an ignored signal ignored). Off
    the main thread, or inside another hold, it holds nothing more.
    """
    global _hold
    if threading.current_thread() is not threading.main_thread() or _hold is not None:
        yield [] if _hold is None else _hold.received
        return
    hold = _Hold()
    previous = _install(hold.handle)
    _hold = hold
    try:
        yield hold.received
    finally:
        _hold = None
        hold.actions = None
        if restore:
            _restore(previous)
        else:
            for signum in previous:
                signal.signal(signum, signal.SIG_IGN)


@contextmanager
def stop_on_signals(
    stop: SignalAction, abort: SignalAction, reload: SignalAction | None = None
) -> Iterator[list[str]]:
    """Turn the first stop signal into ``stop(signum)`` and any later one into ``abort(signum)``;
    with ``reload``, SIGHUP into ``reload(signum)`` instead, every time.

    Yields the names of the stop signals received so far, in order (``["SIGINT"]``); the list
    is appended to before the action runs, so an action that raises still leaves its trace.
    Inside :func:`hold_signals` the signals noted before the block count: entering acts on them
    at once.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    hold = _hold
    if hold is not None:
        outer, hold.actions = hold.actions, (stop, abort)
        outer_reload, hold.reload = hold.reload, reload
        try:
            if reload is not None and RELOAD_SIGNAL is not None:
                held = [name for name in hold.received if name != RELOAD_SIGNAL.name]
                if len(held) < len(hold.received):
                    hold.received[:] = held  # the same list: callers hold it
                    reload(RELOAD_SIGNAL)
            for count, name in enumerate(hold.received[:2]):
                (stop if count == 0 else abort)(signal.Signals[name])
            yield hold.received
        finally:
            hold.actions = outer
            hold.reload = outer_reload
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if reload is not None and signum == RELOAD_SIGNAL:
            reload(signum)
            return
        received.append(signal.Signals(signum).name)
        (stop if len(received) == 1 else abort)(signum)

    previous = _install(handle)
    try:
        yield received
    finally:
        _restore(previous)


Handlers = dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None]


def _install(handler: Callable[[int, FrameType | None], None]) -> Handlers:
    previous: Handlers = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except BaseException:
        _restore(previous)
        raise
    return previous


def _restore(previous: Handlers) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
