"""Ray's own messages on the driver go to the driver's log, never to its stdout.

Ray's driver prints what its raylets report -- a worker that died, an actor that cannot be
placed -- on stdout, from a thread of its own, deduplicated (``[repeated 7x across cluster]``)
whatever ``log_to_driver`` says; they would land amid the progress lines and the summary table,
which are the command's output. No option of ``ray.init`` turns that thread's printing off, so
while the engine holds a Ray instance it joined itself, :class:`RayMessages` takes the place of
the function that thread prints through (``ray._private.worker.print_to_stdstream``) and makes
each message one WARNING record of the driver's log, in full. An application that called
``ray.init()`` itself keeps Ray's printing as it set it up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RayMessages"]

_Printer = Callable[..., None]


class RayMessages:
    """Routes Ray's driver-side printing into ``logger`` between :meth:`install` and
    :meth:`remove` (both idempotent; nothing happens on a Ray that prints elsewhere)."""

    def __init__(self, logger: Any) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._module: Any = None
        self._original: _Printer | None = None

    def install(self) -> None:
        try:
            from ray._private import worker
        except ImportError:  # another layout of Ray's: its printing stays as it is
            return
        module: Any = worker
        original = getattr(module, "print_to_stdstream", None)
        with self._lock:
            if self._module is not None or not callable(original):
                return
            self._module, self._original = module, original
            module.print_to_stdstream = self._print

    def remove(self) -> None:
        with self._lock:
            module, original = self._module, self._original
            self._module = self._original = None
        if module is not None and getattr(module, "print_to_stdstream", None) == self._print:
            module.print_to_stdstream = original

    def _print(self, data: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        """In the place of Ray's printer: each line of ``data`` as one record."""
        try:
            source = data.get("pid") or "ray"
            for line in data.get("lines") or ():
                self._log.warning("ray (%s): %s", source, str(line).strip())
        except Exception:  # the printing thread is Ray's: it must not end on our account
            pass
