"""RecordQueue: limits, overflow policies, protected headroom and drop accounting."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from framepipe.logging._queue import CLOSED, EVICTED, FULL, Marker, RecordQueue
from helpers import log_entry

INFO, WARNING = logging.INFO, logging.WARNING


def fill(queue: RecordQueue, n: int, level: int = INFO) -> list[bool]:
    return [queue.put(log_entry(str(i), level=level), level) for i in range(n)]


class TestLimits:
    def test_ordinary_records_stop_at_eighty_percent(self) -> None:
        """The last 20 % of the queue is reserved for protected records."""
        queue = RecordQueue(10, "drop_newest", WARNING, 0.0)
        assert fill(queue, 10) == [True] * 8 + [False] * 2
        assert len(queue.items) == 8

    def test_protected_records_may_use_the_reserve(self) -> None:
        """WARNING and above fill the queue to its full size, then are dropped."""
        queue = RecordQueue(10, "drop_newest", WARNING, 0.0)
        fill(queue, 8)
        assert fill(queue, 3, WARNING) == [True, True, False]
        assert len(queue.items) == 10

    def test_tiny_queues_have_no_reserve(self) -> None:
        """A queue of fewer than five entries keeps no headroom (it would round to nothing)."""
        queue = RecordQueue(2, "drop_newest", WARNING, 0.0)
        assert fill(queue, 3) == [True, True, False]


class TestOverflowPolicies:
    def test_drop_newest_keeps_the_oldest_records(self) -> None:
        """drop_newest refuses the new record and counts it by level."""
        queue = RecordQueue(5, "drop_newest", WARNING, 0.0)
        fill(queue, 6, logging.DEBUG)
        assert [item[3] for item in queue.items] == ["0", "1", "2", "3"]  # type: ignore[index]
        assert queue.drops(FULL) == {logging.DEBUG: 2}

    def test_drop_oldest_evicts_the_oldest_ordinary_record(self) -> None:
        """drop_oldest makes room by evicting the oldest record, counted as evicted, not refused."""
        queue = RecordQueue(5, "drop_oldest", WARNING, 0.0)
        assert all(fill(queue, 6))
        assert [item[3] for item in queue.items] == ["2", "3", "4", "5"]  # type: ignore[index]
        assert queue.drops(EVICTED) == {INFO: 2}
        assert queue.drops(FULL) == {}
        assert queue.accepted == 6

    def test_drop_oldest_never_evicts_protected_records_or_markers(self) -> None:
        """When the oldest entry is protected, the new ordinary record is dropped instead."""
        queue = RecordQueue(5, "drop_oldest", WARNING, 0.0)
        queue.put(log_entry("keep", level=logging.ERROR), logging.ERROR)
        fill(queue, 3)
        assert queue.put(log_entry("new", level=INFO), INFO) is False
        assert queue.items[0][3] == "keep"  # type: ignore[index]

    def test_block_waits_for_room_then_succeeds(self) -> None:
        """block waits up to block_timeout and enqueues once a consumer makes room."""
        queue = RecordQueue(5, "block", WARNING, 2.0)
        fill(queue, 4)
        threading.Timer(0.05, queue.items.popleft).start()
        assert queue.put(log_entry("late", level=INFO), INFO) is True
        assert queue.drops(FULL) == {}

    def test_block_drops_after_the_timeout(self) -> None:
        """With no consumer, block gives up after block_timeout and counts the drop."""
        queue = RecordQueue(5, "block", WARNING, 0.05)
        fill(queue, 4)
        started = time.monotonic()
        assert queue.put(log_entry("m", level=INFO), INFO) is False
        assert time.monotonic() - started >= 0.05
        assert queue.drops(FULL) == {INFO: 1}

    def test_protected_records_block_even_under_drop_newest(self) -> None:
        """A protected record waits for room before it is dropped, whatever the policy."""
        queue = RecordQueue(5, "drop_newest", WARNING, 2.0)
        fill(queue, 5, WARNING)
        threading.Timer(0.05, queue.items.popleft).start()
        assert queue.put(log_entry("late", level=logging.ERROR), logging.ERROR) is True


class TestWriterSide:
    def test_take_returns_entries_in_order_and_records_the_high_water(self) -> None:
        """take() pops in FIFO order, at most ``limit`` entries, and remembers the deepest queue."""
        queue = RecordQueue(100, "drop_newest", WARNING, 0.0)
        fill(queue, 30)
        batch = queue.take(10)
        assert [item[3] for item in batch] == [str(i) for i in range(10)]  # type: ignore[index]
        assert queue.high_water == 30

    def test_a_protected_record_wakes_an_idle_writer_at_once(self) -> None:
        """wait_for_items returns soon after a WARNING is put, long before its timeout."""
        queue = RecordQueue(100, "drop_newest", WARNING, 0.0)
        threading.Timer(0.05, lambda: queue.put(log_entry("m", level=WARNING), WARNING)).start()
        started = time.monotonic()
        queue.wait_for_items(timeout=30.0)
        assert time.monotonic() - started < 10.0
        assert len(queue.items) == 1

    def test_a_backlog_wakes_an_idle_writer_at_once(self) -> None:
        """Ordinary records wake the writer once a batch's worth is waiting."""
        queue = RecordQueue(1_000, "drop_newest", WARNING, 0.0)
        threading.Timer(0.05, fill, (queue, queue.wake_backlog)).start()
        started = time.monotonic()
        queue.wait_for_items(timeout=30.0)
        assert time.monotonic() - started < 10.0
        assert len(queue.items) == queue.wake_backlog

    def test_a_lone_ordinary_record_does_not_wake_the_writer(self) -> None:
        """One INFO record leaves the writer asleep: it is picked up at the next interval."""
        queue = RecordQueue(1_000, "drop_newest", WARNING, 0.0)
        queue.writer_idle = True
        queue.put(log_entry("m", level=INFO), INFO)
        assert queue.writer_idle is True  # wake() clears it
        assert queue.put(log_entry("m", level=WARNING), WARNING)
        assert queue.writer_idle is False

    def test_a_waiting_marker_means_draining_until_it_is_taken(self) -> None:
        """draining() is true from put_marker until take() hands the marker out, and once closed."""
        queue = RecordQueue(100, "drop_newest", WARNING, 0.0)
        fill(queue, 3)
        assert not queue.draining()
        queue.put_marker(Marker("flush"))
        assert queue.draining() and queue.records_waiting() == 3
        queue.take(2)
        assert queue.draining()
        queue.take(2)
        assert not queue.draining() and queue.records_waiting() == 0
        queue.close()
        assert queue.draining()

    def test_markers_bypass_the_limit(self) -> None:
        """A flush marker is queued even when the queue is full."""
        queue = RecordQueue(5, "drop_newest", WARNING, 0.0)
        fill(queue, 5, WARNING)
        marker = Marker("flush")
        queue.put_marker(marker)
        assert queue.items[-1] is marker

    def test_a_closed_queue_counts_every_later_record_as_dropped(self) -> None:
        """After close(), puts are refused and counted as closed drops, even protected ones."""
        queue = RecordQueue(100, "block", WARNING, 1.0)
        queue.close()
        assert queue.put(log_entry("m", level=logging.CRITICAL), logging.CRITICAL) is False
        assert queue.put(log_entry("m", level=INFO), INFO) is False
        assert queue.drop_at_once(INFO) is True
        assert queue.drops(CLOSED) == {logging.CRITICAL: 1, INFO: 2}
        assert queue.drops(FULL) == {}

    def test_the_first_record_refused_after_close_calls_the_hook_once(self) -> None:
        """on_first_closed_drop runs for the first refused record only."""
        queue = RecordQueue(100, "drop_newest", WARNING, 0.0)
        calls: list[None] = []
        queue.on_first_closed_drop = lambda: calls.append(None)
        queue.close()
        fill(queue, 3)
        assert len(calls) == 1


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest", "block"])
def test_drops_are_counted_exactly_across_threads(policy: str) -> None:
    """Four threads overflowing a small queue: accepted + refused equals records offered."""
    queue = RecordQueue(50, policy, WARNING, 0.001)
    per_thread = 2_000

    def offer() -> None:
        for _ in range(per_thread):
            queue.put(log_entry("m", level=INFO), INFO)

    threads = [threading.Thread(target=offer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    refused = sum(queue.drops(FULL).values())
    evicted = sum(queue.drops(EVICTED).values())
    assert queue.accepted + refused == 4 * per_thread
    assert queue.accepted == evicted + len(queue.items)  # nothing taken: all still queued
