"""``--hang-timeout-s`` with one source: a frame loop that stops moving is logged with its stack.

The loop runs on the main thread, so nothing here can kill it; a thread watches its snapshots
and, once the loop has made no progress for the timeout while it runs (a processor that never
returns), logs an ERROR with every thread's stack (``faulthandler``), the main thread's being
the frame loop's. From then on a stop signal interrupts the frame in hand instead of waiting for
it, so Ctrl-C still ends the run with its summary.
"""

from __future__ import annotations

import faulthandler
import tempfile
import threading
import time
from collections.abc import Callable

from framepipe.logging import Logger
from framepipe.pipeline import Pipeline

__all__ = ["HangWatch"]

JOIN_TIMEOUT_S = 5.0


class HangWatch:
    """Watches ``pipeline`` from a thread while in a ``with`` block; ``hung`` once it hangs."""

    def __init__(
        self,
        pipeline: Pipeline,
        timeout_s: float,
        log: Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pipeline = pipeline
        self._timeout_s = timeout_s
        self._log = log
        self._clock = clock
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="framepipe-hang-watch", daemon=True
        )
        self.hung = False

    def __enter__(self) -> HangWatch:
        if self._timeout_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_S)

    def _watch(self) -> None:
        mark: tuple[int, int, str] | None = None
        moved_at = self._clock()
        while not self._done.wait(min(1.0, self._timeout_s / 4)):
            snapshot = self._pipeline.snapshot()
            now = self._clock()
            seen = (snapshot.frames_processed, snapshot.frames_failed, snapshot.state)
            if seen != mark:
                mark, moved_at, self.hung = seen, now, False
            elif not self.hung and seen[2] == "running" and now - moved_at >= self._timeout_s:
                self.hung = True
                self._report(seen[0] + seen[1])

    def _report(self, frame: int) -> None:
        with tempfile.TemporaryFile("w+") as dump:
            faulthandler.dump_traceback(dump, all_threads=True)
            dump.seek(0)
            stacks = dump.read().rstrip()
        self._log.error(
            "frame loop hung on frame %d: no progress for %g s; the stacks, the main thread's "
            "being the frame loop's:\n%s",
            frame,
            self._timeout_s,
            stacks,
        )
