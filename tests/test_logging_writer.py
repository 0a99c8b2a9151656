"""Writer: batches, markers in order, survival of its own failures, drop reports at stop."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Sequence

from framepipe.logging._dispatch import Dispatcher
from framepipe.logging._queue import Marker, RecordQueue
from framepipe.logging._writer import BATCH_SIZE, DRAIN_BATCH_SIZE, Writer


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


def run_writer(
    queue: RecordQueue, sink: logging.Handler, pause: Callable[[float], None] = time.sleep
) -> Writer:
    writer = Writer(queue, Dispatcher([sink], stderr=io.StringIO()), pause=pause)
    writer.start()
    return writer


class PauseCounter:
    """A pause function that counts how often the writer yields, and yields like the real one."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        time.sleep(seconds)


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
    assert max(sink.batches) <= DRAIN_BATCH_SIZE
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


class TestDrainSpeed:
    def test_a_flush_drains_the_backlog_without_pausing_between_batches(self) -> None:
        """With a flush waiting, 8,000 queued records are written with no yield between batches."""
        queue = RecordQueue(10_000, "drop_newest", logging.WARNING, 0.0)
        for i in range(8_000):
            queue.put(entry(str(i)), logging.INFO)
        marker = Marker("flush")
        queue.put_marker(marker)
        sink, pause = BatchCounter(), PauseCounter()
        writer = run_writer(queue, sink, pause)
        assert marker.done.wait(timeout=30)
        assert len(sink.messages) == 8_000
        assert pause.calls == 0
        assert len(sink.batches) <= 8_000 // DRAIN_BATCH_SIZE + 1  # few writes, few GIL hand-offs
        stop(queue, writer)

    def test_stop_drains_the_backlog_without_pausing_between_batches(self) -> None:
        """stop() writes what is queued at full speed."""
        queue = RecordQueue(10_000, "drop_newest", logging.WARNING, 0.0)
        for i in range(8_000):
            queue.put(entry(str(i)), logging.INFO)
        sink, pause = BatchCounter(), PauseCounter()
        queue.close()
        queue.put_marker(Marker("stop"))
        writer = run_writer(queue, sink, pause)
        assert writer.join(timeout=30)
        assert len(sink.messages) == 8_000
        assert pause.calls == 0

    def test_a_steady_backlog_still_yields_between_batches(self) -> None:
        """With no flush or stop waiting, the writer pauses between batches for the callers."""
        queue = RecordQueue(10_000, "drop_newest", logging.WARNING, 0.0)
        for i in range(1_000):
            queue.put(entry(str(i)), logging.INFO)
        sink, pause = BatchCounter(), PauseCounter()
        writer = run_writer(queue, sink, pause)
        deadline = time.monotonic() + 30
        while len(sink.messages) < 1_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sink.messages) == 1_000
        assert pause.calls >= 1_000 // BATCH_SIZE - 1
        assert max(sink.batches) <= BATCH_SIZE
        stop(queue, writer)
