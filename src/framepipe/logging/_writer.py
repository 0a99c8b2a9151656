"""The writer thread: drains the queue in batches, builds records, writes, reports drops."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from framepipe.logging._dispatch import Dispatcher, build_record
from framepipe.logging._levels import level_name
from framepipe.logging._queue import EVICTED, FULL, Marker, RecordQueue

__all__ = ["Writer"]

# Entries per batch: one write per batch pays off already at a few dozen records, and building
# and formatting 64 records holds the GIL for well under a millisecond, so a frame loop waiting
# for the GIL behind a backlog waits that long and not a whole 5 ms switch interval.
BATCH_SIZE = 64
# Entries per batch while a flush or stop waits: each write releases the GIL, and beside busy
# Python threads winning it back costs a switch interval, so fewer, larger writes drain faster.
DRAIN_BATCH_SIZE = 1024
# Steady-state pause between batches: hands the GIL to a waiting frame loop (see _drain_once).
PAUSE_S = 0.00005
DROP_REPORTER_NAME = "framepipe.logging"


class Writer:
    """Owns the thread that turns queued entries into written records.

    One pass: take a batch, build each record on its own, hand the records to the dispatcher
    (which formats each and writes the batch), handle markers in queue order. In the steady
    state it pauses ``PAUSE_S`` between batches; while a flush or stop waits it drains at full
    speed, since the caller of ``flush()``/``stop()`` is waiting for exactly that.
    """

    def __init__(
        self, queue: RecordQueue, dispatcher: Dispatcher,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.thread: threading.Thread | None = None
        self._pause = pause
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
                self.queue.wait_for_items()
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

    def _drain_once(self) -> None:
        draining = self.queue.draining()
        batch = self.queue.take(DRAIN_BATCH_SIZE if draining else BATCH_SIZE)
        if not batch:
            return
        accounted = self.dispatcher.written + self.dispatcher.errors
        try:
            self._process(batch)
        except Exception as exc:  # a bug here must not kill the thread or strand a flush()
            self.dispatcher.report(_WRITER_ITSELF, exc)
            self._settle(batch, accounted)
        self._report_drops()
        # Give the GIL away between batches so a backlog never stalls a frame loop for a whole
        # switch interval; sleep(0) is not enough for a waiting thread to win the GIL reliably.
        if self.queue.items and not self.queue.draining():
            self._pause(PAUSE_S)

    def _process(self, batch: list[object]) -> None:
        records: list[logging.LogRecord] = []
        for item in batch:
            if isinstance(item, Marker):
                self._write(records)
                records = []
                self._handle_marker(item)
                continue
            record = self._build_one(item)
            if record is not None:
                records.append(record)
        self._write(records)

    def _build_one(self, item: object) -> logging.LogRecord | None:
        """The record for one entry; None (counted) if the entry is malformed."""
        if isinstance(item, logging.LogRecord):
            return item
        try:
            return build_record(item)  # type: ignore[arg-type]
        except Exception as exc:  # one malformed entry costs one error, not the batch
            self._count_failure(exc)
            return None

    def _write(self, records: list[logging.LogRecord]) -> None:
        if records:
            self.dispatcher.emit(records)

    def _handle_marker(self, marker: Marker) -> None:
        if marker.kind == "stop":
            self._stop_requested = True
        else:
            self.dispatcher.flush()
        marker.done.set()

    def _count_failure(self, exc: Exception) -> None:
        self.dispatcher.errors += 1
        self.dispatcher.report(_WRITER_ITSELF, exc)

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


class _WriterItself(logging.Handler):
    def __repr__(self) -> str:
        return "<framepipe log writer>"


_WRITER_ITSELF = _WriterItself()


def stderr_note(text: str) -> None:
    try:
        sys.stderr.write(f"framepipe.logging: {text}\n")
        sys.stderr.flush()
    except Exception:
        pass
