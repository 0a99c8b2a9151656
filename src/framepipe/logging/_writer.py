"""The writer thread: drains the queue in batches, writes them, reports drops."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from framepipe.logging._dispatch import WRITER_ITSELF, Dispatcher, Item
from framepipe.logging._levels import level_name
from framepipe.logging._queue import EVICTED, FULL, Marker, RecordQueue

__all__ = ["Writer"]

# Entries per batch (and so per write) in the steady state: one write per batch pays off already
# at a few dozen records. How long the writer holds the GIL is bounded separately (BUDGET_S).
BATCH_SIZE = 64
# Entries per batch while a flush or stop waits: each write releases the GIL, and beside busy
# Python threads winning it back costs a switch interval, so fewer, larger writes drain faster.
DRAIN_BATCH_SIZE = 1024
# Steady-state work between two pauses, in seconds of wall time: a frame loop waiting for the
# GIL behind a backlog waits about this long, not a whole 5 ms switch interval.
BUDGET_S = 0.0005
# The pause that hands the GIL to a waiting thread; sleep(0) does not let it win reliably.
PAUSE_S = 0.00005
DROP_REPORTER_NAME = "framepipe.logging"


class Writer:
    """Owns the thread that turns queued entries into written records.

    One pass: take a batch, hand its entries to the dispatcher (which formats each on its own
    and writes the batch), handle markers in queue order. In the steady state the writer pauses
    ``PAUSE_S`` whenever it has worked ``BUDGET_S`` since its last pause -- between batches or in
    the middle of one, however many records a write holds. While a flush or stop waits it drains
    at full speed, since the caller of ``flush()``/``stop()`` is waiting for exactly that.
    """

    def __init__(
        self, queue: RecordQueue, dispatcher: Dispatcher,
        pause: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.thread: threading.Thread | None = None
        self._pause = pause
        self._clock = clock
        self._worked_since = clock()
        self._marker_in_batch = False
        self._reported_drops = 0
        self._reported_by_level: dict[int, int] = {}
        self._stop_requested = False

    def start(self) -> None:
        if self.thread is not None:
            raise RuntimeError("the writer thread was already started")
        self._stop_requested = False
        self.thread = threading.Thread(target=self._run, name="framepipe-log-writer", daemon=True)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self) -> None:
        self.queue.writer_ident = threading.get_ident()
        try:
            while not self._stop_requested:
                if not self.queue.items:
                    self.queue.wait_for_items()
                    self._worked_since = self._clock()  # waiting released the GIL
                self._drain_once()
            # Entries that raced with stop(): write them too.
            while self.queue.items:
                self._drain_once()
            self._report_drops(force=True)
        finally:
            # Nobody may wait forever on a flush that this thread will no longer do.
            for item in list(self.queue.items):
                if isinstance(item, Marker):
                    item.done.set()

    def checkpoint(self) -> None:
        """Pause if the steady-state budget is spent; never while a flush or stop waits."""
        if self._clock() - self._worked_since < BUDGET_S:
            return
        if not (self._marker_in_batch or self.queue.draining()):
            self._pause(PAUSE_S)
        self._worked_since = self._clock()

    def _drain_once(self) -> None:
        taken = self.queue.markers_taken
        batch = self.queue.take(DRAIN_BATCH_SIZE if self.queue.draining() else BATCH_SIZE)
        if not batch:
            return
        # A flush or stop in this batch is still waiting until the batch is done.
        self._marker_in_batch = self.queue.markers_taken > taken
        accounted = self.dispatcher.written + self.dispatcher.errors
        try:
            self._process(batch)
        except Exception as exc:  # a bug here must not kill the thread or strand a flush()
            self.dispatcher.report(WRITER_ITSELF, exc)
            self._settle(batch, accounted)
        self._marker_in_batch = False
        self._report_drops()
        if self.queue.items:
            self.checkpoint()

    def _process(self, batch: list[object]) -> None:
        items: list[Item] = []
        for item in batch:
            if item.__class__ is Marker:
                self._write(items)
                items = []
                self._handle_marker(item)
            else:
                items.append(item)  # type: ignore[arg-type]
        self._write(items)

    def _write(self, items: list[Item]) -> None:
        if items:
            self.dispatcher.emit(items, checkpoint=self.checkpoint)

    def _handle_marker(self, marker: Marker) -> None:
        if marker.kind == "stop":
            self._stop_requested = True
        else:
            # What was lost before the flush belongs to what the flush promises is written.
            self._report_drops(force=True)
            self.dispatcher.flush()
        marker.done.set()

    def _settle(self, batch: list[object], accounted: int) -> None:
        """After an unexpected failure: count the batch's unaccounted records, release markers."""
        records = sum(not isinstance(item, Marker) for item in batch)
        done = self.dispatcher.written + self.dispatcher.errors - accounted
        self.dispatcher.errors += max(0, records - done)
        for item in batch:
            if isinstance(item, Marker):
                self._stop_requested |= item.kind == "stop"
                item.done.set()

    def _report_drops(self, force: bool = False) -> None:
        """Once there is room again, say in the log itself how many records were lost."""
        by_level = self.queue.drops(FULL, EVICTED)
        total = sum(by_level.values())
        if total == self._reported_drops or not (force or self.queue.has_room()):
            return
        delta = {
            level: count - self._reported_by_level.get(level, 0)
            for level, count in sorted(by_level.items())
        }
        detail = ", ".join(f"{level_name(lv)}: {n}" for lv, n in delta.items() if n)
        record = logging.LogRecord(
            DROP_REPORTER_NAME, logging.WARNING, __file__, 0,
            "dropped %d log records because the log queue was full (%s)",
            (total - self._reported_drops, detail), None,
        )
        self._reported_drops = total
        self._reported_by_level = by_level
        self.dispatcher.emit([record], count=False)  # not one of the callers' records

    def join(self, timeout: float) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running
