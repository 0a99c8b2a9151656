"""The writer thread: drains the queue in batches, builds records, writes, reports drops."""

from __future__ import annotations

import logging
import sys
import threading
import time

from framepipe.logging._dispatch import Dispatcher, build_record
from framepipe.logging._levels import level_name
from framepipe.logging._queue import Marker, RecordQueue

__all__ = ["Writer"]

# Entries per batch: one write per batch pays off already at a few dozen records, and building
# and formatting 64 records holds the GIL for well under a millisecond, so a frame loop waiting
# for the GIL behind a backlog waits that long and not a whole 5 ms switch interval.
BATCH_SIZE = 64
DROP_REPORTER_NAME = "framepipe.logging"


class Writer:
    """Owns the thread that turns queued entries into written records."""

    def __init__(self, queue: RecordQueue, dispatcher: Dispatcher) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.thread: threading.Thread | None = None
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
        batch = self.queue.take(BATCH_SIZE)
        if not batch:
            return
        try:
            self._process(batch)
        except Exception as exc:  # a bug here must not kill the thread or strand a flush()
            self._count_failure(exc)
            for item in batch:
                if isinstance(item, Marker):
                    self._stop_requested |= item.kind == "stop"
                    item.done.set()
        self._report_drops()
        # Give the GIL away between batches so a backlog never stalls a frame loop for a whole
        # switch interval; sleep(0) is not enough for a waiting thread to win the GIL reliably.
        if self.queue.items:
            time.sleep(0.00005)

    def _process(self, batch: list[object]) -> None:
        records: list[logging.LogRecord] = []
        for item in batch:
            if isinstance(item, Marker):
                self._flush_records(records)
                records = []
                if item.kind == "stop":
                    self._stop_requested = True
                else:
                    self.dispatcher.flush()
                item.done.set()
                continue
            try:
                records.append(item if isinstance(item, logging.LogRecord) else build_record(item))  # type: ignore[arg-type]
            except Exception as exc:  # one malformed entry costs one error, not the batch
                self._count_failure(exc)
        self._flush_records(records)

    def _count_failure(self, exc: Exception) -> None:
        self.dispatcher.errors += 1
        self.dispatcher.report(_WRITER_ITSELF, exc)

    def _flush_records(self, records: list[logging.LogRecord]) -> None:
        if records:
            self.dispatcher.emit(records)

    def _report_drops(self, force: bool = False) -> None:
        """Once there is room again, say in the log itself how many records were lost."""
        total, by_level = self.queue.dropped_snapshot()
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
