"""Caller-side cost of one info() call: framepipe async, framepipe sync, stdlib QueueHandler,
a disabled level, and a dropped record.

Run: pytest benchmarks/test_logging_caller_cost.py --benchmark-only
Each round logs CALLS records and is followed (outside the timing) by a flush, so the queue never
fills and every call measured is an accepted one. Divide the reported times by CALLS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from framepipe.bench.baselines import classic_file_handler, stdlib_queue_logger
from framepipe.logging import configure

CALLS = 500  # records per round
ROUNDS = 200
pytestmark = pytest.mark.benchmark(group="logging caller cost (per round of 500 calls)")


def _logs(info: Callable[..., None]) -> Callable[[], None]:
    def log_round() -> None:
        for i in range(CALLS):
            info("frame %d took %.2f ms", i, 4.2)

    return log_round


@pytest.fixture
def file_handler(tmp_path) -> Iterator[logging.Handler]:
    handler = classic_file_handler(tmp_path / "stdlib.txt")
    yield handler
    handler.close()


def test_framepipe_async(benchmark, tmp_path) -> None:
    log = configure(log_dir=tmp_path, capture_stdlib=False)

    def drain() -> None:
        log.flush(30)

    benchmark.pedantic(_logs(log.info), setup=drain, rounds=ROUNDS)
    assert log.get_stats()["dropped"] == 0
    log.stop()


def test_framepipe_sync(benchmark, tmp_path) -> None:
    log = configure(log_dir=tmp_path, capture_stdlib=False, mode="sync")
    benchmark.pedantic(_logs(log.info), rounds=ROUNDS // 4)
    log.stop()


def test_stdlib_queue_handler(benchmark, file_handler) -> None:
    """The classic design: QueueHandler + QueueListener over a bounded queue.Queue(10000)."""
    baseline = stdlib_queue_logger("bench.stdlib", file_handler, count_drops=False)
    try:
        benchmark.pedantic(_logs(baseline.logger.info), setup=baseline.records.join, rounds=ROUNDS)
    finally:
        baseline.stop()


def test_framepipe_disabled_level(benchmark, tmp_path) -> None:
    log = configure(log_dir=tmp_path, capture_stdlib=False, level="WARNING")
    benchmark.pedantic(_logs(log.info), rounds=ROUNDS)
    assert log.get_stats()["accepted"] == 0
    log.stop()


def test_framepipe_dropped_record(benchmark, capfd) -> None:
    """Every call meets a full queue (the sink is held): the cost of counting a drop."""
    gate = threading.Event()

    class HeldSink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            gate.wait(60)

    log = configure(handlers=[HeldSink()], queue_size=100, capture_stdlib=False)
    _logs(log.info)()  # fill the queue
    benchmark.pedantic(_logs(log.info), rounds=ROUNDS)
    gate.set()
    log.stop()
    assert log.get_stats()["dropped"] >= ROUNDS * CALLS
    assert capfd.readouterr().err == ""
