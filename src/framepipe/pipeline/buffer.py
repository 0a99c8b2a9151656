"""The bounded buffer between the reader thread and the frame loop.

Two policies: ``block`` makes the reader wait for room, so every frame is processed (files);
``latest`` keeps only the newest frames and counts the ones it throws away, so a slow processor
never builds up lag behind a live source. ``close()`` is the end-of-stream marker: it never
blocks and is seen by the consumer after the frames already buffered.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

from framepipe.typing import DropPolicy

__all__ = ["DROP_POLICIES", "BufferClosed", "DropPolicy", "FrameBuffer"]

DROP_POLICIES: tuple[DropPolicy, ...] = ("block", "latest")

T = TypeVar("T")


class BufferClosed(Exception):
    """Raised by ``get()`` once the buffer is closed and empty (end of stream)."""


class FrameBuffer(Generic[T]):
    """A bounded, thread-safe FIFO with a drop policy, an end marker and a consumer-side cancel."""

    def __init__(self, capacity: int = 4, policy: DropPolicy = "block") -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, but got {capacity!r}")
        if policy not in DROP_POLICIES:
            raise ValueError(
                f"policy must be one of {', '.join(DROP_POLICIES)}, but got {policy!r}"
            )
        self.capacity = capacity
        self.policy: DropPolicy = policy
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closed = False
        self._cancelled = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Items discarded by the ``latest`` policy (always 0 under ``block``)."""
        with self._lock:
            return self._dropped

    @property
    def dropped_so_far(self) -> int:
        """``dropped`` read without the lock, for observers on other threads (a snapshot):
        one int read, never a wait for the reader or the loop; it may miss an eviction in
        progress."""
        return self._dropped

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, item: T) -> bool:
        """Add ``item``; return False (and discard it) when the consumer has cancelled.

        Under ``block`` this waits for room; under ``latest`` it evicts the oldest item instead.
        """
        with self._lock:
            if self.policy == "block":
                while len(self._items) >= self.capacity and not self._cancelled:
                    self._not_full.wait()
            if self._cancelled or self._closed:
                return False
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            self._not_empty.notify()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the oldest item; None when ``timeout`` passes first; BufferClosed at the end."""
        with self._lock:
            if not self._not_empty.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                item = self._items.popleft()
                self._not_full.notify()
                return item
            raise BufferClosed

    def close(self) -> None:
        """Mark the end of the stream (producer side); never blocks; idempotent."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()

    def cancel(self) -> None:
        """Stop accepting items and wake a blocked producer (consumer side); idempotent."""
        with self._lock:
            self._cancelled = True
            self._items.clear()
            self._not_full.notify_all()

    @property
    def cancelled(self) -> bool:
        with self._lock:
            return self._cancelled
