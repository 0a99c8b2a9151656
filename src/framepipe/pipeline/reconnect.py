"""A live source that survives drops: reconnect with exponential backoff and jitter.

A camera or network stream that stops delivering (a read error, the server gone, or no frame for
the stall timeout, which the capture's own read timeout enforces) is a disconnect, not an end. The
source is reopened after ``base * 2**n`` seconds, capped at ``max_backoff_s`` and scaled by a
random factor in [0.5, 1] so that many clients of one camera do not reconnect in lockstep. While
it reconnects, ``read()`` blocks (the reader thread waits, the frame loop sees no frames); when the
attempts run out it raises :class:`SourceError`. Files never reconnect: their end is the end.

Every state change is logged: ``connecting``, ``running``, ``reconnecting`` (WARNING), ``ended``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from framepipe.pipeline.sources import Source, SourceError, SourceInfo
from framepipe.typing import Frame

__all__ = ["BASE_BACKOFF_S", "ConnectionState", "ReconnectingSource", "backoff_s"]

ConnectionState = Literal["connecting", "running", "reconnecting", "ended"]

BASE_BACKOFF_S = 0.5


class _Log(Protocol):
    def info(self, msg: str, *args: object) -> None: ...
    def warning(self, msg: str, *args: object) -> None: ...


def backoff_s(attempt: int, max_backoff_s: float, rng: random.Random) -> float:
    """The wait before reconnect attempt ``attempt`` (1, 2, ...): exponential, capped, jittered."""
    ceiling = min(max_backoff_s, BASE_BACKOFF_S * 2.0 ** min(attempt - 1, 30))
    return ceiling * rng.uniform(0.5, 1.0)


class ReconnectingSource(Source):
    """Wraps a live source opened by ``reopen()`` and reopens it whenever it drops.

    ``attempts`` is how many reconnects in a row may fail before giving up (None: never give up);
    a successful reconnect starts the count again. ``cancelled()`` ends the waiting at once (the
    pipeline's stop). ``clock``, ``sleep`` and ``rng`` are injectable for tests.
    """

    def __init__(
        self,
        first: Source,
        reopen: Callable[[], Source],
        log: _Log,
        *,
        attempts: int | None = None,
        max_backoff_s: float = 30.0,
        cancelled: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if attempts is not None and (isinstance(attempts, bool) or attempts < 0):
            raise ValueError(f"attempts must be >= 0 or None, but got {attempts!r}")
        if not max_backoff_s > 0:
            raise ValueError(f"max_backoff_s must be positive, but got {max_backoff_s!r}")
        self._source: Source | None = first
        self._reopen = reopen
        self._log = log
        self.attempts = attempts
        self.max_backoff_s = max_backoff_s
        self._cancelled = cancelled or (lambda: False)
        self._clock = clock
        self._released = threading.Event()
        self._sleep = sleep if sleep is not None else self._wait
        self._rng = rng or random.Random()
        self.info: SourceInfo = first.info
        self.state: ConnectionState = "running"
        self.reconnects = 0
        self._disconnected_total_s = 0.0
        self._disconnected_since: float | None = None
        self._frames = 0
        self._log.info("source %s: running", self.info.name)

    @property
    def disconnected_s(self) -> float:
        """Seconds spent without a connection so far (a drop in progress included)."""
        since = self._disconnected_since
        ongoing = 0.0 if since is None else self._clock() - since
        return self._disconnected_total_s + ongoing

    def read(self) -> Frame | None:
        while True:
            source = self._source
            if source is None or self._released.is_set():
                return None
            try:
                frame = source.read()
                reason = "no frame within the stall timeout, or the stream ended"
            except SourceError as exc:
                frame, reason = None, str(exc)
            if frame is not None:
                self._frames += 1
                return frame
            if self._released.is_set() or self._cancelled():
                return None
            if not self._reconnect(reason):
                return None

    def _reconnect(self, reason: str) -> bool:
        """Reopen until it works (True), or until attempts run out or a stop (False / raise)."""
        self._disconnected_since = self._clock()
        self.state = "reconnecting"
        self._log.warning(
            "source %s: disconnected after %d frames (%s); reconnecting",
            self.info.name,
            self._frames,
            reason,
        )
        self._close_current()
        failures = 0
        while self.attempts is None or failures < self.attempts:
            wait = backoff_s(failures + 1, self.max_backoff_s, self._rng)
            self._sleep(wait)
            if self._released.is_set() or self._cancelled():
                self._end_disconnection("ended")
                return False
            self.state = "connecting"
            self._log.info("source %s: connecting (attempt %d)", self.info.name, failures + 1)
            try:
                self._source = self._reopen()
            except SourceError as exc:
                failures += 1
                self.state = "reconnecting"
                self._log.warning(
                    "source %s: reconnect attempt %d failed: %s", self.info.name, failures, exc
                )
                continue
            down_s = self._end_disconnection("running")
            self.reconnects += 1
            self._log.info(
                "source %s: running again after %.1f s without a connection (reconnect %d)",
                self.info.name,
                down_s,
                self.reconnects,
            )
            return True
        self._end_disconnection("ended")
        raise SourceError(
            f"{self.info.name} lost: {failures} reconnect attempts failed "
            f"(last reason: {reason})"
        )

    def _end_disconnection(self, state: ConnectionState) -> float:
        since = self._disconnected_since
        down_s = 0.0 if since is None else self._clock() - since
        self._disconnected_total_s += down_s
        self._disconnected_since = None
        self.state = state
        if state == "ended":
            self._log.info("source %s: ended", self.info.name)
        return down_s

    def _close_current(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.release()

    def _wait(self, seconds: float) -> None:
        # Wake every 50 ms to notice cancelled(); release() wakes at once.
        deadline = time.monotonic() + seconds
        while not self._released.is_set() and not self._cancelled():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._released.wait(min(0.05, remaining))

    def release(self) -> None:
        self._released.set()
        if self.state != "ended":
            self.state = "ended"
        self._close_current()
