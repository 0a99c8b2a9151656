"""Tests for framepipe.bench.baselines: the classic QueueHandler + QueueListener design."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_helpers import root_records
from framepipe.bench.baselines import (
    CLASSIC_FORMAT,
    STDLIB_QUEUE_SIZE,
    StdlibQueueLogger,
    classic_file_handler,
    stdlib_queue_logger,
)


class ListSink(logging.Handler):
    """Keeps every record's message; blocks in emit while ``gate`` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait(timeout=10)
        self.messages.append(record.getMessage())


@pytest.fixture
def sink() -> Iterator[ListSink]:
    handler = ListSink()
    yield handler
    handler.gate.set()
    handler.close()


def _log_while_stalled(
    sink: ListSink, count: int, *, size: int, count_drops: bool = True
) -> StdlibQueueLogger:
    """Log ``count`` records while the sink is stalled, then release it and stop."""
    sink.gate.clear()
    baseline = stdlib_queue_logger(
        "framepipe.test.baselines.stalled", sink, size=size, count_drops=count_drops
    )
    try:
        for index in range(count):
            baseline.logger.info("frame %d", index)
    finally:
        sink.gate.set()
        baseline.stop(timeout=10)
    return baseline


def test_every_record_reaches_the_sink_on_the_listener_thread(sink: ListSink) -> None:
    """Records go through the bounded queue to the sink; stop() leaves no listener thread."""
    baseline = stdlib_queue_logger("framepipe.test.baselines.all", sink)
    assert baseline.records.maxsize == STDLIB_QUEUE_SIZE == 10_000
    for index in range(5):
        baseline.logger.info("frame %d", index)
    baseline.stop(timeout=10)
    assert sink.messages == [f"frame {index}" for index in range(5)]
    assert baseline.listener._thread is None
    assert baseline.handler not in baseline.logger.handlers


def test_records_stay_out_of_the_root_logger(sink: ListSink) -> None:
    """The logger is private at INFO: nothing propagates to the root logger's handlers."""
    with root_records() as seen:
        baseline = stdlib_queue_logger("framepipe.test.baselines.private", sink)
        baseline.logger.debug("below the level")
        baseline.logger.info("kept")
        baseline.stop(timeout=10)
    assert sink.messages == ["kept"]
    assert seen == []


def test_a_full_queue_counts_drops_and_prints_nothing(
    sink: ListSink, capfd: pytest.CaptureFixture[str]
) -> None:
    """With the sink stalled, records beyond the queue are counted as dropped, silently."""
    baseline = _log_while_stalled(sink, 20, size=3)
    # the listener may hold one record outside the queue while the sink is stalled
    assert 16 <= baseline.dropped <= 17
    assert len(sink.messages) + baseline.dropped == 20
    assert capfd.readouterr().err == ""


def test_without_counting_a_full_queue_is_the_stdlibs_traceback(
    sink: ListSink, capfd: pytest.CaptureFixture[str]
) -> None:
    """count_drops=False keeps the stdlib's own reaction: a traceback on stderr per record."""
    baseline = _log_while_stalled(sink, 5, size=1, count_drops=False)
    assert baseline.dropped is None
    err = capfd.readouterr().err
    assert "queue.Full" in err
    assert err.count("--- Logging error ---") >= 3


def test_stop_waits_at_most_its_timeout_for_a_stalled_sink(sink: ListSink) -> None:
    """A sink that never returns cannot hang stop(): the listener thread is left behind."""
    sink.gate.clear()
    baseline = stdlib_queue_logger("framepipe.test.baselines.stalled", sink)
    baseline.logger.info("stuck in the sink")
    thread = baseline.listener._thread
    assert thread is not None
    baseline.stop(timeout=0.05)
    assert baseline.listener._thread is None
    sink.gate.set()  # let the abandoned thread finish
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_stop_with_a_full_queue_and_a_stalled_sink_neither_raises_nor_hangs(
    sink: ListSink,
) -> None:
    """No room for the end marker: stop() gives up after its timeout instead of queue.Full."""
    sink.gate.clear()
    baseline = stdlib_queue_logger("framepipe.test.baselines.full", sink, size=3)
    for index in range(10):
        baseline.logger.info("frame %d", index)
    thread = baseline.listener._thread
    assert thread is not None
    baseline.stop(timeout=0.05)
    assert baseline.listener._thread is None
    sink.gate.set()
    baseline.records.put(baseline.listener._sentinel, timeout=10)  # end the abandoned thread
    thread.join(timeout=10)
    assert not thread.is_alive()
    # the three queued, plus the one the sink held if the listener took it before the rest came
    assert 3 <= len(sink.messages) <= 4
    assert len(sink.messages) + (baseline.dropped or 0) == 10


def test_stop_twice_is_harmless(sink: ListSink) -> None:
    """A second stop() finds nothing to stop."""
    baseline = stdlib_queue_logger("framepipe.test.baselines.twice", sink)
    baseline.stop(timeout=10)
    baseline.stop(timeout=10)
    assert baseline.listener._thread is None


def test_the_classic_file_handler_writes_the_classic_format(tmp_path: Path) -> None:
    """A plain FileHandler with time, level, logger name and message."""
    handler = classic_file_handler(tmp_path / "stdlib.txt")
    try:
        record = logging.LogRecord("app", logging.INFO, __file__, 1, "frame %d", (7,), None)
        handler.handle(record)
    finally:
        handler.close()
    line = (tmp_path / "stdlib.txt").read_text(encoding="utf-8")
    assert line.endswith(" INFO     app: frame 7\n")
    assert handler.formatter is not None and handler.formatter._fmt == CLASSIC_FORMAT
