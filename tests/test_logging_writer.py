"""Writer: batches, markers in order, survival of its own failures, drop reports at stop."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence

from framepipe.logging._dispatch import Dispatcher
from framepipe.logging._queue import Marker, RecordQueue
from framepipe.logging._writer import BATCH_SIZE, Writer


class BatchCounter(logging.Handler):
    """A batch-capable sink that records the size of every batch of lines it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.messages: list[str] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        self.batches.append(len(lines))
        self.messages.extend(line.rstrip("\n") for line in lines)

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - batches only
        raise AssertionError("write_lines should be used")


def entry(text: str, level: int = logging.INFO) -> tuple[object, ...]:
    return (0.0, level, "t", text, (), None, threading.get_ident(), None, "main", None)


def run_writer(queue: RecordQueue, sink: logging.Handler) -> Writer:
    writer = Writer(queue, Dispatcher([sink], stderr=io.StringIO()))
    writer.start()
    return writer


def stop(queue: RecordQueue, writer: Writer) -> None:
    queue.close()
    queue.put_marker(Marker("stop"))
    assert writer.join(timeout=10)


def test_a_backlog_is_written_in_batches_in_order() -> None:
    """1,000 queued entries reach a batch sink in a handful of batches, in order."""
    queue = RecordQueue(2_000, "drop_newest", logging.WARNING, 0.0)
    for i in range(1_000):
        queue.put(entry(str(i)), logging.INFO)
    sink = BatchCounter()
    writer = run_writer(queue, sink)
    stop(queue, writer)
    assert sink.messages == [str(i) for i in range(1_000)]
    assert max(sink.batches) <= BATCH_SIZE
    assert len(sink.batches) <= 1_000 // BATCH_SIZE + 2


def test_a_flush_marker_is_done_after_the_entries_before_it() -> None:
    """flush markers are handled in queue order: everything before them is written first."""
    queue = RecordQueue(100, "drop_newest", logging.WARNING, 0.0)
    sink = BatchCounter()
    for i in range(10):
        queue.put(entry(str(i)), logging.INFO)
    marker = Marker("flush")
    queue.put_marker(marker)
    writer = run_writer(queue, sink)
    assert marker.done.wait(timeout=10)
    assert len(sink.messages) == 10
    stop(queue, writer)


def test_an_unbuildable_entry_is_counted_and_the_writer_goes_on() -> None:
    """A malformed entry (a bug upstream) costs an error, not the writer thread."""
    queue = RecordQueue(100, "drop_newest", logging.WARNING, 0.0)
    sink = BatchCounter()
    writer = run_writer(queue, sink)
    queue.put(("malformed",), logging.INFO)
    queue.put(entry("fine"), logging.INFO)
    marker = Marker("flush")
    queue.put_marker(marker)
    assert marker.done.wait(timeout=10)
    assert writer.running
    assert writer.dispatcher.errors == 1
    queue.put(entry("after"), logging.INFO)
    stop(queue, writer)
    assert sink.messages[-1] == "after"


def test_drops_still_unreported_at_stop_are_reported_before_exit() -> None:
    """Records dropped just before stop() are reported in the log on the way out."""
    queue = RecordQueue(5, "drop_newest", logging.WARNING, 0.0)
    for i in range(9):
        queue.put(entry(str(i)), logging.INFO)
    sink = BatchCounter()
    writer = run_writer(queue, sink)
    stop(queue, writer)
    assert sink.messages[-1] == "dropped 5 log records because the log queue was full (INFO: 5)"
