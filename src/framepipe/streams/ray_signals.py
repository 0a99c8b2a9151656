"""SIGTERM stays the application's while Ray starts and stops in this process.

``ray.init`` takes SIGTERM three times over in the driver: its first instruction installs a
Python handler that calls ``sys.exit``; a local instance's node installs one that kills Ray's
processes and calls ``sys.exit(1)``; and the core worker it connects installs Ray's native
failure handler (Abseil's), which writes a crash report and, inside Ray's start-up or shutdown,
aborts the process (exit -6). ``ray.shutdown`` then takes that native handler away, leaving
SIGTERM at its default action (the process killed, exit -15) until the application puts its own
back. A stop signal at any of those moments would end the program half-started or half-stopped.

Within :func:`sigterm_kept`, none of that happens: Ray's Python handlers are not installed and
the core worker is told not to install its native one (``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``,
read when it starts, for this process only: actors keep theirs), so the application's handler
receives every SIGTERM, from the first instruction of ``ray.init`` to the last of
``ray.shutdown``. Nothing changes for an application without a handler of its own, off the main
thread, or on a Ray whose layout differs (its handlers are then put back over after the call).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

__all__ = ["sigterm_kept"]


@contextmanager
def sigterm_kept(ray: Any, handler: Any) -> Iterator[None]:
    """Ray's calls inside leave SIGTERM to ``handler`` (the application's); it is installed
    again on the way out whatever Ray did. Nothing changes when ``handler`` is not callable."""
    if not callable(handler) or threading.current_thread() is not threading.main_thread():
        yield
        return
    with ExitStack() as patches:
        patches.callback(signal.signal, signal.SIGTERM, handler)
        _replace(patches, ray, "_private.utils", "set_sigterm_handler", _keep_handler)
        _replace(patches, ray, "_private.ray_constants", "RAY_DISABLE_FAILURE_SIGNAL_HANDLER", True)
        yield


def _keep_handler(sigterm_handler: Any) -> None:
    """In the place of Ray's ``set_sigterm_handler``: the application's handler stays."""


def _replace(patches: ExitStack, ray: Any, module: str, name: str, value: Any) -> None:
    """Set ``ray.<module>.<name>`` to ``value`` until ``patches`` closes (when it exists)."""
    target: Any = ray
    for part in module.split("."):
        target = getattr(target, part, None)
        if target is None:
            return
    if not hasattr(target, name):
        return
    original = getattr(target, name)
    setattr(target, name, value)
    patches.callback(setattr, target, name, original)
