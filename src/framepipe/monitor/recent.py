"""A value rebuilt at most every ``ttl_s`` and shared by every request thread in between.

Prometheus servers, dashboards and scripts may all scrape ``/metrics``; rendered at most ten
times a second, the exposition costs the same however many of them there are, and it is never
more than 0.1 s old, which none of them can tell apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TTL_S", "Recent"]

T = TypeVar("T")

TTL_S = 0.1


class Recent(Generic[T]):
    """``get()`` returns ``build()``'s last result while it is younger than ``ttl_s``."""

    def __init__(
        self,
        build: Callable[[], T],
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl_s >= 0:
            raise ValueError(f"ttl_s must be 0 or more, but got {ttl_s!r}")
        self._build = build
        self._ttl_s = ttl_s
        self._clock = clock
        # Server threads only: one builds while the others wait for its result.
        self._lock = threading.Lock()
        self._built_at = float("-inf")  # never: the first get() builds
        self._value: T
        self.builds = 0

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if now - self._built_at >= self._ttl_s:
                self._value = self._build()  # if it raises, the next get() builds again
                self._built_at = now
                self.builds += 1
            return self._value
