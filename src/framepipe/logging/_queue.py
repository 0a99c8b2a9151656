"""The bounded record queue between callers and the writer thread.

Callers append without taking a lock (``deque.append`` is atomic); the writer pops from the other
end. An idle writer sleeps on a plain lock for at most ``FLUSH_INTERVAL_S``. A caller releases that
lock only when a batch's worth of entries is waiting or its record is protected: waking a thread
costs the caller a system call and, on a busy machine, a context switch (tens of µs measured in a
frame loop), so ordinary records at a low rate are picked up by the writer's next look instead.

Capacity is split like logback's ``AsyncAppender``: ordinary records may fill the queue up to
``maxsize - reserve``; records at or above ``protect_level`` may also use the reserve and wait up to
``block_timeout`` for room before they are dropped.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from logging import LogRecord

__all__ = ["OVERFLOW_POLICIES", "Marker", "RecordQueue"]

OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block")

# Share of the queue kept for protected records (logback discards below WARNING at 80 % full).
RESERVE_FRACTION = 0.2
# How long a blocked caller sleeps between looks at the queue.
_BLOCK_POLL_S = 0.0005
# Longest time an ordinary record waits in an idle writer's queue before it is written.
FLUSH_INTERVAL_S = 0.1
# Entries waiting that make a caller wake an idle writer at once.
WAKE_BACKLOG = 64


class Marker:
    """A control entry (flush or stop): handled in queue order, never counted or dropped."""

    __slots__ = ("done", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.done = threading.Event()


def _level_of(item: object) -> int | None:
    if type(item) is tuple:
        return item[1]  # type: ignore[no-any-return]
    if isinstance(item, LogRecord):
        return item.levelno
    return None  # a Marker


def _count_value(counter: itertools.count[int]) -> int:
    # itertools.count has no read accessor; its repr is "count(N)" on every Python version.
    return int(repr(counter)[6:-1])


class RecordQueue:
    """Bounded deque with an overflow policy, drop accounting and a cheap writer wake-up."""

    def __init__(
        self, maxsize: int, overflow: str, protect_level: int, block_timeout: float
    ) -> None:
        self.maxsize = maxsize
        self.overflow = overflow
        self.protect_level = protect_level
        self.block_timeout = block_timeout
        reserve = int(maxsize * RESERVE_FRACTION) if maxsize >= 5 else 0
        # Read by callers on the hot path; set to 0 by close() so every put takes the slow path.
        self.soft_limit = maxsize - reserve
        self.hard_limit = maxsize
        self.wake_backlog = max(1, min(WAKE_BACKLOG, self.soft_limit // 2))
        self.items: deque[object] = deque()
        self.accepted_counter = itertools.count()
        self.writer_idle = False
        self.writer_ident: int | None = None
        self.high_water = 0
        self.closed = False
        self._wake_lock = threading.Lock()
        self._wake_lock.acquire()  # held: the writer blocks on it until a caller releases it
        self._drop_lock = threading.Lock()
        # One itertools.count per level: next() is atomic, so counting a drop needs no lock.
        self._drop_counters: dict[int, itertools.count[int]] = {}

    # -- callers ---------------------------------------------------------------------------------

    def put(self, item: object, level: int) -> bool:
        """Enqueue ``item``; return False when it was dropped (and counted)."""
        items = self.items
        if len(items) < self.soft_limit:
            items.append(item)
            next(self.accepted_counter)
            if self.writer_idle and (
                len(items) >= self.wake_backlog or level >= self.protect_level
            ):
                self.wake()
            return True
        return self.put_overflow(item, level)

    def drop_at_once(self, level: int) -> bool:
        """On a full queue under drop_newest, refuse (and count) an ordinary record up front."""
        if self.overflow != "drop_newest" or level >= self.protect_level:
            return False
        self.count_drop(level)
        return True

    def put_overflow(self, item: object, level: int) -> bool:
        """The slow path: the queue is at its limit for this level (or closed)."""
        if self.closed:
            self.count_drop(level)
            return False
        items = self.items
        protected = level >= self.protect_level
        limit = self.hard_limit if protected else self.soft_limit
        self.high_water = max(self.high_water, len(items))
        if len(items) < limit:
            return self._append(item)
        if protected or self.overflow == "block":
            if self._wait_for_room(limit):
                return self._append(item)
            self.count_drop(level)
            return False
        if self.overflow == "drop_oldest" and self._evict_oldest():
            return self._append(item)
        self.count_drop(level)
        return False

    def put_marker(self, marker: Marker) -> None:
        self.items.append(marker)
        self.wake()

    def wake(self) -> None:
        self.writer_idle = False
        try:
            self._wake_lock.release()
        except RuntimeError:  # another caller released it first
            pass

    def count_drop(self, level: int) -> None:
        counter = self._drop_counters.get(level)
        if counter is None:
            with self._drop_lock:
                counter = self._drop_counters.setdefault(level, itertools.count())
        next(counter)

    def _append(self, item: object) -> bool:
        self.items.append(item)
        next(self.accepted_counter)
        self.wake()
        return True

    def _wait_for_room(self, limit: int) -> bool:
        if threading.get_ident() == self.writer_ident:
            return False  # the writer logging into its own full queue must never wait for itself
        deadline = time.monotonic() + self.block_timeout
        while len(self.items) >= limit:
            if self.closed:
                return False
            self.wake()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(_BLOCK_POLL_S, remaining))
        return True

    def _evict_oldest(self) -> bool:
        """Drop the oldest ordinary record to make room; protected records and markers stay."""
        try:
            oldest = self.items.popleft()
        except IndexError:
            return True  # the writer emptied the queue meanwhile
        level = _level_of(oldest)
        if level is None or level >= self.protect_level:
            self.items.appendleft(oldest)
            return False
        self.count_drop(level)
        return True

    # -- writer ----------------------------------------------------------------------------------

    def wait_for_items(self, timeout: float = FLUSH_INTERVAL_S) -> None:
        """Block the writer until a caller wakes it or ``timeout`` passes."""
        if self.items:
            return
        self.writer_idle = True
        if not self.items:  # re-check after publishing idleness: a caller may have just appended
            self._wake_lock.acquire(timeout=timeout)
        self.writer_idle = False

    def take(self, limit: int) -> list[object]:
        """Pop up to ``limit`` entries in order."""
        items = self.items
        depth = len(items)
        if depth > self.high_water:
            self.high_water = depth
        popleft = items.popleft
        batch = []
        try:
            for _ in range(min(limit, depth)):
                batch.append(popleft())
        except IndexError:  # drop_oldest evicted concurrently
            pass
        return batch

    def has_room(self) -> bool:
        return len(self.items) < self.soft_limit

    def dropped_snapshot(self) -> tuple[int, dict[int, int]]:
        """(total, {level: count}) of records dropped so far."""
        with self._drop_lock:
            counters = list(self._drop_counters.items())
        by_level = {level: _count_value(counter) for level, counter in counters}
        by_level = {level: n for level, n in by_level.items() if n}
        return sum(by_level.values()), by_level

    @property
    def accepted(self) -> int:
        return _count_value(self.accepted_counter)

    def close(self) -> None:
        """Refuse (and count) every later record; the hot path sees it through the limits."""
        self.closed = True
        self.soft_limit = 0
        self.hard_limit = 0
        self.wake()

    def reinit_after_fork(self) -> None:
        """In a forked child: forget the parent's entries and locks (the parent writes those)."""
        self.items = deque()
        self.accepted_counter = itertools.count()
        self.writer_idle = False
        self.high_water = 0
        self._wake_lock = threading.Lock()
        self._wake_lock.acquire()
        self._drop_lock = threading.Lock()
        self._drop_counters = {}
