"""Process hooks that make accepted records survive: exit, signals, crashes and fork.

- normal exit: ``atexit`` stops (drains) the current logger;
- SIGTERM/SIGINT: flush, then chain to the previous handler; when that was the default action the
  logger is stopped and the signal re-raised, so the process still dies of it. Python's own
  SIGINT handler is left in place: its KeyboardInterrupt ends the program through the normal
  exit (drained by ``atexit``) or is caught and the program goes on, and raising it from a hook
  of ours would put the logger's frame into every Ctrl-C traceback;
- an unhandled exception (main thread or another): logged at CRITICAL with its traceback, flushed,
  then passed on to the previous hook;
- ``fork``: the forking thread holds the logger's state lock and every sink's lock across
  ``fork()``, so no other thread is inside ``configure()``/``get_logger()`` or a sink's file
  object when the process is copied (a lock held there by a thread that does not exist in the
  child would block the child forever); the child starts a writer of its own, with its counters
  at 0, instead of inheriting a dead one.

The exit and fork hooks are registered once, when ``framepipe.logging`` is imported, and do
nothing while there is no logger. The signal handlers and exception hooks (``Hooks``) belong to
the application: only an explicit ``configure()`` installs them, never the implicit one that a
library's first record triggers.

Only SIGKILL, a hard crash of the interpreter or power loss lose what is still queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any, Protocol

from framepipe.logging._notes import stderr_note

__all__ = ["Hooks", "register_process_hooks"]

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long a signal or crash handler waits for the queue to drain before moving on.
FLUSH_TIMEOUT_S = 5.0
# How long fork() waits for the sinks to finish the write in progress (one batch, normally well
# under a millisecond); a sink stuck longer than this is left to the child as it is.
FORK_QUIESCE_TIMEOUT_S = 5.0


class _Sinks(Protocol):
    @property
    def handlers(self) -> Sequence[logging.Handler]: ...


class _Core(Protocol):
    stopped: bool

    @property
    def dispatcher(self) -> _Sinks: ...

    def flush(self, timeout: float = ...) -> bool: ...

    def stop(self, timeout: float = ...) -> None: ...

    def reinit_after_fork(self) -> None: ...


class _Log(Protocol):
    def critical(self, msg: object, *args: object, exc_info: object = ...) -> None: ...


_registered = False


def _no_core() -> _Core | None:
    return None


# The process-wide logger's core now. Signal handlers act on it rather than on the core they
# were installed for: a handler can outlive its logger when configure() or stop() ran off the main
# thread, where signal handlers cannot be changed.
_current_core: Callable[[], _Core | None] = _no_core


def register_process_hooks(current_core: Callable[[], _Core | None], state_lock: Any) -> None:
    """Register the once-per-process hooks (atexit and fork); later calls do nothing.

    ``state_lock`` guards the process-wide logger's state (``configure()``, ``get_logger()``):
    held across fork(), so a child never finds it taken by a thread it does not have.
    """
    global _registered, _current_core, _state_lock
    if _registered:
        return
    _registered = True
    _current_core = current_core
    _state_lock = state_lock

    def stop_at_exit() -> None:
        core = current_core()
        if core is not None:
            core.stop()

    atexit.register(stop_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )


_state_lock: Any = None
# The locks the forking thread holds between the ``before`` and ``after`` fork hooks.
_held_locks: list[Any] = []


def _before_fork() -> None:
    """Hold the state lock and, once no thread is inside a sink, every sink's lock."""
    deadline = time.monotonic() + FORK_QUIESCE_TIMEOUT_S
    if _state_lock is not None:
        _hold(_state_lock, deadline, "the logger's configuration")
    core = _current_core()
    if core is None or core.stopped:
        return
    for handler in core.dispatcher.handlers:
        lock = getattr(handler, "lock", None)
        if lock is not None:
            _hold(lock, deadline, f"sink {handler!r}")


def _hold(lock: Any, deadline: float, what: str) -> None:
    if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        _held_locks.append(lock)
    else:
        stderr_note(
            f"{what} stayed busy for {FORK_QUIESCE_TIMEOUT_S:g} s while the process forked; "
            "the child may block on it"
        )


def _after_fork_in_parent() -> None:
    while _held_locks:
        _held_locks.pop().release()


def _after_fork_in_child() -> None:
    """Free the held locks, then give the logger a writer of its own."""
    while _held_locks:
        try:
            _held_locks.pop().release()
        except RuntimeError:
            pass  # logging's own fork hook has already reset the locks of the handlers it knows
    core = _current_core()
    if core is not None:
        core.reinit_after_fork()


class Hooks:
    """Signal handlers and exception hooks for one logger; ``uninstall`` puts the old ones back."""

    def __init__(self, core: _Core, log: _Log) -> None:
        self.core = core
        self.log = log
        self.previous_signals: dict[int, Any] = {}
        self.previous_excepthook: Callable[..., Any] | None = None
        self.previous_thread_excepthook: Callable[..., Any] | None = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                previous = signal.getsignal(signum)
                if previous == signal.SIG_IGN:
                    continue  # an ignored signal stays ignored
                if previous is signal.default_int_handler:
                    continue  # KeyboardInterrupt reaches the exit path, which drains (see above)
                previous = _skip_left_behind(signum, previous)
                signal.signal(signum, self._on_signal)
                self.previous_signals[signum] = previous
        self.previous_excepthook = sys.excepthook
        sys.excepthook = self._on_unhandled
        self.previous_thread_excepthook = threading.excepthook
        threading.excepthook = self._on_unhandled_in_thread

    def uninstall(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self.previous_signals.items():
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            self.previous_signals = {}
        # Off the main thread our signal handlers stay installed: they keep their chain and serve
        # whichever logger is current, and the next install() on the main thread skips them.
        if sys.excepthook == self._on_unhandled and self.previous_excepthook is not None:
            sys.excepthook = self.previous_excepthook
        if (threading.excepthook == self._on_unhandled_in_thread
                and self.previous_thread_excepthook is not None):
            threading.excepthook = self.previous_thread_excepthook

    def _live_core(self) -> _Core:
        return _current_core() or self.core

    def _flush(self, core: _Core) -> None:
        if not core.stopped:
            try:
                core.flush(FLUSH_TIMEOUT_S)
            except Exception:
                pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> Any:
        core = self._live_core()
        self._flush(core)
        previous = self.previous_signals.get(signum, signal.SIG_DFL)
        if callable(previous):
            return previous(signum, frame)
        if previous == signal.SIG_IGN:
            return None
        # The default action (or a handler set outside Python): end the process as the signal
        # intends, after the queue is written.
        core.stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return None

    def _on_unhandled(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if not issubclass(exc_type, KeyboardInterrupt):
            self.log.critical("unhandled exception", exc_info=(exc_type, exc, tb))
            self._flush(self._live_core())
        if self.previous_excepthook is not None:
            self.previous_excepthook(exc_type, exc, tb)

    def _on_unhandled_in_thread(self, args: Any) -> None:
        if not issubclass(args.exc_type, SystemExit):
            name = args.thread.name if args.thread is not None else "?"
            self.log.critical(
                "unhandled exception in thread %s", name,
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )
            self._flush(self._live_core())
        if self.previous_thread_excepthook is not None:
            self.previous_thread_excepthook(args)


def _skip_left_behind(signum: int, handler: Any) -> Any:
    """The handler that a left-behind hook of ours (see ``uninstall``) chains to, else ``handler``.

    Keeps the chain one hook long however often the logger is stopped off the main thread.
    """
    while isinstance(getattr(handler, "__self__", None), Hooks) and (
        getattr(handler, "__func__", None) is Hooks._on_signal
    ):
        handler = handler.__self__.previous_signals.get(signum, signal.SIG_DFL)
    return handler
