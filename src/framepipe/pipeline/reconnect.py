"""A live source that survives drops: reconnect with exponential backoff and jitter.

A camera or network stream that stops delivering (a read error, the server gone, or no frame for
the stall timeout, which the capture's own read timeout enforces) is a disconnect, not an end. The
source is reopened after ``base * 2**n`` seconds, capped at ``max_backoff_s`` and scaled by a
random factor in [0.5, 1] so that many clients of one camera do not reconnect in lockstep. While
it reconnects, ``read()`` blocks (the reader thread waits, the frame loop sees no frames); when the
attempts run out it raises :class:`SourceLost`. Files never reconnect: their end is the end.

Every state change is logged: ``connecting``, ``running``, ``reconnecting`` (WARNING), ``ended``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from framepipe.pipeline.sources import OpenCancelled, Source, SourceError, SourceInfo
from framepipe.typing import Frame

__all__ = ["BASE_BACKOFF_S", "ConnectionState", "ReconnectingSource", "SourceLost", "backoff_s"]

ConnectionState = Literal["connecting", "running", "reconnecting", "ended"]

BASE_BACKOFF_S = 0.5
_LONG_READ_S = 0.5  # a read that waits this long is waiting for a stalled source


class SourceLost(SourceError):
    """A live source dropped and could not be reconnected within the attempts allowed."""


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
    a successful reconnect starts the count again; 0 means a drop ends the source with
    :class:`SourceLost`. ``cancelled()`` ends the waiting at once (the pipeline's stop).
    ``clock``, ``sleep`` and ``rng`` are injectable for tests.
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
        self._long_read = (-math.inf, 0.0)  # when the last long read ended, and its length
        self._log.info("source %s: running", self.info.name)

    @property
    def disconnected_s(self) -> float:
        """Seconds spent without a connection so far (a drop in progress included)."""
        since = self._disconnected_since
        ongoing = 0.0 if since is None else self._clock() - since
        return self._disconnected_total_s + ongoing

    @property
    def timestamp_s(self) -> float | None:
        source = self._source
        return source.timestamp_s if source is not None else None

    def read(self) -> Frame | None:
        while True:
            source = self._source
            if source is None or self._released.is_set():
                return None
            started = self._clock()
            try:
                frame = source.read()
            except SourceError as exc:
                frame, reason = None, str(exc)
            else:
                reason = self._why_empty(started)
            if frame is not None:
                self._frames += 1
                ended = self._clock()
                if ended - started >= _LONG_READ_S:
                    self._long_read = (ended, ended - started)
                return frame
            if self._released.is_set() or self._cancelled():
                return None
            if not self._reconnect(reason):
                return None

    def _why_empty(self, started: float) -> str:
        """Why a read gave no frame: a stall (the capture's read timeout ran out), or the other
        end closing the stream (an empty read right after frames came)."""
        now = self._clock()
        # On a timeout FFmpeg still hands out the frames it held, at once; the read that waited
        # is the one just before them.
        ended, length = self._long_read
        waited = max(now - started, length if now - ended < _LONG_READ_S else 0.0)
        return f"no frame for {waited:.1f} s" if waited >= _LONG_READ_S else "the stream ended"

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
        last_error = reason
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
            except OpenCancelled:
                self._end_disconnection("ended")
                return False
            except SourceError as exc:
                failures, last_error = failures + 1, str(exc)
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
        lost = f"{self.info.name} lost after {self._frames} frames"
        if failures == 0:
            raise SourceLost(f"{lost} ({reason}) and reconnecting is off")
        raise SourceLost(f"{lost}: {failures} reconnect attempts failed (last: {last_error})")

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
            self._end_disconnection("ended")
        self._close_current()
