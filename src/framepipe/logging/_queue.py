"""The bounded record queue between callers and the writer thread.

Callers append without taking a lock (``deque.append`` is atomic); the writer pops from the other
end. An idle writer sleeps on a plain lock for at most ``FLUSH_INTERVAL_S``. A caller releases that
lock only when a batch's worth of entries is waiting or its record is protected: waking a thread
costs the caller a system call and, on a busy machine, a context switch (tens of µs measured in a
frame loop), so ordinary records at a low rate are picked up by the writer's next look instead.

Capacity is split like logback's ``AsyncAppender``: ordinary records may fill the queue up to
``maxsize - reserve``; records at or above ``protect_level`` may also use the reserve and wait up to
``block_timeout`` for room before they are dropped.

Every record offered ends in exactly one count: ``dropped`` (refused: the queue was full, the wait
for room ran out, or the queue was closed), ``evicted`` (accepted, then pushed out by
``drop_oldest``), or ``accepted`` and then, on the writer side, written or failed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from logging import LogRecord
from typing import Any

from framepipe.logging._capture import LEVELNO
from framepipe.logging._defaults import OVERFLOW_POLICIES

__all__ = ["CLOSED", "EVICTED", "FULL", "OVERFLOW_POLICIES", "Marker", "RecordQueue"]


# Why a record was lost: refused by a full queue, evicted after acceptance, refused after close().
FULL, EVICTED, CLOSED = "full", "evicted", "closed"

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
        return item[LEVELNO]  # type: ignore[no-any-return]
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
        # Called once, on the caller's thread, for the first record refused after close().
        self.on_first_closed_drop: Callable[[], None] | None = None
        self._wake_lock = threading.Lock()
        self._wake_lock.acquire()  # held: the writer blocks on it until a caller releases it
        self._drop_lock = threading.Lock()
        # One itertools.count per (reason, level): next() is atomic, so a drop needs no lock.
        self._drop_counters: dict[tuple[str, int], itertools.count[int]] = {}
        self._closed_drops = itertools.count()
        # Accepted records taken back because they came as the queue closed (withdraw_late).
        self._withdrawn = itertools.count()
        # Markers put minus markers taken: a flush or stop is waiting, so drain at full speed.
        self._markers_put = itertools.count()
        self.markers_taken = 0

    # -- callers ---------------------------------------------------------------------------------

    def put(self, item: object, level: int) -> bool:
        """Enqueue ``item``; return False when it was dropped (and counted)."""
        items = self.items
        if len(items) < self.soft_limit:
            items.append(item)
            next(self.accepted_counter)
            if self.closed:  # closed since the check above: the writer may be gone
                return self.withdraw_late(item, level)
            if self.writer_idle and (
                len(items) >= self.wake_backlog or level >= self.protect_level
            ):
                self.wake()
            return True
        return self.put_overflow(item, level)

    def drop_at_once(self, level: int) -> bool:
        """On a full queue under drop_newest, refuse (and count) an ordinary record up front."""
        if self.closed:
            self.count_closed_drop(level)
            return True
        if self.overflow != "drop_newest" or level >= self.protect_level:
            return False
        self.count_drop(level)
        return True

    def put_overflow(self, item: object, level: int) -> bool:
        """The slow path: the queue is at its limit for this level (or closed)."""
        if self.closed:
            self.count_closed_drop(level)
            return False
        items = self.items
        protected = level >= self.protect_level
        limit = self.hard_limit if protected else self.soft_limit
        self.high_water = max(self.high_water, len(items))
        if len(items) < limit:
            return self._append(item, level)
        if protected or self.overflow == "block":
            if self._wait_for_room(limit):
                return self._append(item, level)
            self.count_drop(level)
            return False
        if self.overflow == "drop_oldest" and self._evict_oldest():
            return self._append(item, level)
        self.count_drop(level)
        return False

    def put_batch(self, entries: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """Enqueue entries another process captured, in order; ``(accepted, refused)``.

        Not a caller's hot path: it waits for room as long as the queue is open, so a slow writer
        holds the sending process back (whose own queue then applies its overflow policy)
        instead of losing records here. Ordinary entries fill up to the soft limit; a protected
        one may use the reserve. Entries refused because the queue closed count as ``dropped``.
        """
        items = self.items
        done, total = 0, len(entries)
        while done < total:
            if self.closed:
                for entry in entries[done:]:
                    self.count_drop(entry[LEVELNO], CLOSED)
                return done, total - done
            room = self.soft_limit - len(items)
            if room <= 0 and entries[done][LEVELNO] >= self.protect_level:
                room = min(1, self.hard_limit - len(items))
            if room <= 0:
                self.wake()
                time.sleep(_BLOCK_POLL_S)
                continue
            chunk = entries[done:done + room]
            items.extend(chunk)  # one C call: no caller's record lands inside the chunk
            deque(itertools.islice(self.accepted_counter, len(chunk)), maxlen=0)  # count them
            done += len(chunk)
            self.high_water = max(self.high_water, len(items))
            self.wake()
        return done, 0

    def put_marker(self, marker: Marker) -> None:
        next(self._markers_put)
        self.items.append(marker)
        self.wake()

    def wake(self) -> None:
        self.writer_idle = False
        try:
            self._wake_lock.release()
        except RuntimeError:  # another caller released it first
            pass

    def count_drop(self, level: int, reason: str = FULL) -> None:
        key = (reason, level)
        counter = self._drop_counters.get(key)
        if counter is None:
            with self._drop_lock:
                counter = self._drop_counters.setdefault(key, itertools.count())
        next(counter)

    def count_closed_drop(self, level: int) -> None:
        self.count_drop(level, CLOSED)
        if next(self._closed_drops) == 0 and self.on_first_closed_drop is not None:
            self.on_first_closed_drop()

    def _append(self, item: object, level: int) -> bool:
        self.items.append(item)
        next(self.accepted_counter)
        if self.closed:
            return self.withdraw_late(item, level)
        self.wake()
        return True

    def withdraw_late(self, item: object, level: int) -> bool:
        """``item`` was appended as the queue closed, after its caller saw room: the writer
        may have drained for the last time before it came. Unless the writer took it, it is
        taken back and counted as refused after close(), as a record that came a moment later
        is; True when the writer took it (it is written)."""
        try:
            self.items.remove(item)  # atomic: either this or the writer's take gets it
        except ValueError:
            return True
        next(self._withdrawn)
        self.count_closed_drop(level)
        return False

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
        self.count_drop(level, EVICTED)
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
                item = popleft()
                if item.__class__ is Marker:
                    self.markers_taken += 1
                batch.append(item)
        except IndexError:  # drop_oldest evicted concurrently
            pass
        return batch

    def draining(self) -> bool:
        """Whether a flush or stop is waiting: the writer should not pause between batches."""
        return self.closed or _count_value(self._markers_put) > self.markers_taken

    def has_room(self) -> bool:
        return len(self.items) < self.soft_limit

    def records_waiting(self) -> int:
        """Records in the queue, not counting flush or stop markers."""
        markers = _count_value(self._markers_put) - self.markers_taken
        return max(0, len(self.items) - markers)

    def drops(self, *reasons: str) -> dict[int, int]:
        """{level: count} of records lost so far for any of ``reasons``."""
        with self._drop_lock:
            counters = list(self._drop_counters.items())
        by_level: dict[int, int] = {}
        for (reason, level), counter in counters:
            n = _count_value(counter)
            if n and reason in reasons:
                by_level[level] = by_level.get(level, 0) + n
        return by_level

    @property
    def accepted(self) -> int:
        return _count_value(self.accepted_counter) - _count_value(self._withdrawn)

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
        self._closed_drops = itertools.count()
        self._withdrawn = itertools.count()
        self._markers_put = itertools.count()
        self.markers_taken = 0
