"""Writer: batches, markers in order, survival of its own failures, drop reports at stop."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence

from framepipe.logging._dispatch import CHECK_EVERY, Dispatcher
from framepipe.logging._queue import Marker, RecordQueue
from framepipe.logging._writer import BATCH_SIZE, BUDGET_S, DRAIN_BATCH_SIZE, Writer
from helpers import ManualClock, log_entry, wait_until


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


def backlog(count: int, size: int) -> RecordQueue:
    """A queue for ``size`` entries, offered ``count`` INFO entries "0", "1", ... in order
    (it keeps those that fit)."""
    queue = RecordQueue(size, "drop_newest", logging.WARNING, 0.0)
    for i in range(count):
        queue.put(log_entry(str(i)), logging.INFO)
    return queue


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
    queue = backlog(1_000, size=2_000)
    sink = BatchCounter()
    writer = run_writer(queue, sink)
    stop(queue, writer)
    assert sink.messages == [str(i) for i in range(1_000)]
    assert max(sink.batches) <= DRAIN_BATCH_SIZE
    assert len(sink.batches) <= 1_000 // BATCH_SIZE + 2


def test_a_flush_marker_is_done_after_the_entries_before_it() -> None:
    """flush markers are handled in queue order: everything before them is written first."""
    queue = backlog(10, size=100)
    sink = BatchCounter()
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
    queue.put(log_entry("fine"), logging.INFO)
    marker = Marker("flush")
    queue.put_marker(marker)
    assert marker.done.wait(timeout=10)
    assert writer.running
    assert writer.dispatcher.errors == 1
    queue.put(log_entry("after"), logging.INFO)
    stop(queue, writer)
    assert sink.messages[-1] == "after"


def test_drops_still_unreported_at_stop_are_reported_before_exit() -> None:
    """Records dropped just before stop() are reported in the log on the way out."""
    queue = backlog(9, size=5)
    sink = BatchCounter()
    writer = run_writer(queue, sink)
    stop(queue, writer)
    assert sink.messages[-1] == "dropped 5 log records because the log queue was full (INFO: 5)"


class CostlyFormatter(logging.Formatter):
    """Formats a record and charges ``cost`` seconds of work to the writer's clock, which moves
    only by that; logs what happened."""

    def __init__(self, clock: ManualClock, events: list[str], cost: float) -> None:
        super().__init__("%(message)s")
        self.clock, self.events, self.cost = clock, events, cost

    def format(self, record: logging.LogRecord) -> str:
        self.clock.advance(self.cost)
        self.events.append("format")
        return super().format(record)


class EventPause(PauseCounter):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def __call__(self, seconds: float) -> None:
        self.events.append("pause")
        super().__call__(seconds)


def costly_writer(
    queue: RecordQueue, cost: float
) -> tuple[Writer, BatchCounter, EventPause, list[str]]:
    """A writer whose sink formats each record in ``cost`` seconds of its (manual) clock."""
    events: list[str] = []
    clock = ManualClock()
    sink = BatchCounter()
    sink.setFormatter(CostlyFormatter(clock, events, cost))
    pause = EventPause(events)
    writer = Writer(queue, Dispatcher([sink], stderr=io.StringIO()), pause=pause, clock=clock)
    writer.start()
    return writer, sink, pause, events


def work_between_pauses(events: list[str]) -> list[int]:
    """How many records were formatted in each stretch between two pauses."""
    stretches, formatted = [], 0
    for event in events:
        if event == "pause":
            stretches.append(formatted)
            formatted = 0
        else:
            formatted += 1
    return [*stretches, formatted]


class TestGilBudget:
    def test_a_steady_backlog_pauses_after_each_budget_even_inside_a_batch(self) -> None:
        """Records costing 0.1 ms each: a pause every few records, though a write holds 64."""
        queue = backlog(1_000, size=10_000)
        writer, sink, _, events = costly_writer(queue, cost=0.0001)
        wait_until(lambda: len(sink.messages) >= 1_000, "1,000 lines written", timeout=30)
        assert max(work_between_pauses(events)) <= BUDGET_S / 0.0001 + CHECK_EVERY
        assert max(sink.batches) == BATCH_SIZE  # the pauses do not depend on the write size
        assert sink.messages == [str(i) for i in range(1_000)]
        stop(queue, writer)

    def test_cheap_records_are_not_paused_for_after_every_batch(self) -> None:
        """Records costing 1 µs: 64 of them are far below the budget, so pauses are rare."""
        queue = backlog(2_048, size=10_000)
        writer, sink, pause, _ = costly_writer(queue, cost=0.000001)
        wait_until(lambda: len(sink.messages) >= 2_048, "2,048 lines written", timeout=30)
        assert len(sink.messages) == 2_048
        assert pause.calls <= 2_048 * 0.000001 / BUDGET_S + 1
        stop(queue, writer)


class TestDrainSpeed:
    def test_a_flush_drains_the_backlog_without_pausing(self) -> None:
        """With a flush waiting, 8,000 costly records are written with no pause at all."""
        queue = backlog(8_000, size=10_000)
        marker = Marker("flush")
        queue.put_marker(marker)
        writer, sink, pause, _ = costly_writer(queue, cost=0.0001)
        assert marker.done.wait(timeout=30)
        assert len(sink.messages) == 8_000
        assert pause.calls == 0
        assert len(sink.batches) <= 8_000 // DRAIN_BATCH_SIZE + 1  # few writes, few GIL hand-offs
        stop(queue, writer)

    def test_stop_drains_the_backlog_without_pausing(self) -> None:
        """stop() writes what is queued at full speed."""
        queue = backlog(8_000, size=10_000)
        queue.close()
        queue.put_marker(Marker("stop"))
        writer, sink, pause, _ = costly_writer(queue, cost=0.0001)
        assert writer.join(timeout=30)
        assert len(sink.messages) == 8_000
        assert pause.calls == 0


class SlowNotices(BatchCounter):
    """A sink that takes its time over the drop notice, as a slow disk would over any line."""

    def write_lines(self, lines: Sequence[str]) -> None:
        if any("log records because the log queue was full" in line for line in lines):
            time.sleep(0.3)
        super().write_lines(lines)


def test_a_flush_returns_after_the_drops_before_it_are_in_the_log() -> None:
    """flush() means what was logged before it is written: the notice of the records dropped
    before it too, however slowly the sink takes that notice."""
    queue = backlog(9, size=5)
    marker = Marker("flush")
    queue.put_marker(marker)  # in the writer's first batch, with the records that fit
    sink = SlowNotices()
    writer = run_writer(queue, sink)
    assert marker.done.wait(timeout=10)
    notices = [m for m in sink.messages if "because the log queue was full" in m]
    stop(queue, writer)
    assert notices == ["dropped 5 log records because the log queue was full (INFO: 5)"]
